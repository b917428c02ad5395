"""BLEU from scratch, equal to sacrebleu: corpus statistics, brevity penalty, sentence BLEU and smoothing,
and why an average of sentence scores, another tokenization or another reference layout disagree."""

# --8<-- [start:corpus]
import sacrebleu

from genai_guide.metrics import corpus_bleu, sentence_bleu

hypotheses = [  # three system outputs
    "The keeper climbed the tower and cleaned the lamp.",
    "The baker baked bread for the fishermen.",
    "The children counted five boats in the harbour.",
]
references = [  # two human references for each hypothesis
    ["Every morning the keeper climbed the tower and cleaned the lamp.",
     "The keeper went up the tower and cleaned the lamp."],
    ["The baker baked the bread that the fishermen carried to their boats.",
     "The baker made bread for the fishermen."],
    ["The children counted the boats in the harbour: five of them.",
     "In the harbour the children counted five boats."],
]
ours = corpus_bleu(hypotheses, references)
theirs = sacrebleu.corpus_bleu(hypotheses, list(zip(*references)))  # sacrebleu: one list per reference *stream*
print(f"corpus BLEU {ours.score:.2f} (sacrebleu {theirs.score:.2f}); precisions "
      + "/".join(f"{p:.1f}" for p in ours.precisions) + f"; BP {ours.bp:.3f}, c = {ours.hyp_len}, r = {ours.ref_len}")
assert ours.score == theirs.score and ours.precisions == theirs.precisions and ours.bp == theirs.bp
print(f"matches {ours.matches} of {ours.totals} n-grams (n = 1..4)")
# --8<-- [end:corpus]

# --8<-- [start:sentence]
sentence_scores = []
for hypothesis, refs in zip(hypotheses, references):
    score = sentence_bleu(hypothesis, refs).score  # exp smoothing and effective order, as sacrebleu
    assert score == sacrebleu.sentence_bleu(hypothesis, refs).score
    sentence_scores.append(score)
print("sentence BLEU " + ", ".join(f"{s:.2f}" for s in sentence_scores)
      + f"; their mean {sum(sentence_scores) / len(sentence_scores):.2f} is not the corpus BLEU {ours.score:.2f}")

short, ref = "The lamp was cleaned by the keeper.", ["The keeper cleaned the lamp."]  # only words in common
for smooth in ("none", "floor", "add-k", "exp"):
    mine = sentence_bleu(short, ref, smooth=smooth)
    assert mine.score == sacrebleu.sentence_bleu(short, ref, smooth_method=smooth).score
    print(f"smooth={smooth:5s}  BLEU {mine.score:5.2f}  precisions " + "/".join(f"{p:.1f}" for p in mine.precisions))
# --8<-- [end:sentence]

# --8<-- [start:pitfalls]
variants = {"13a tokens, case-sensitive (default)": {}, "tokenize='none' (split on spaces)": {"tokenize": "none"},
            "lowercase=True": {"lowercase": True}}
for label, options in variants.items():
    score = corpus_bleu(hypotheses, references, **options).score
    assert score == sacrebleu.corpus_bleu(hypotheses, list(zip(*references)), **options).score
    print(f"{label:37s} BLEU {score:.2f}")

wrong = sacrebleu.corpus_bleu(hypotheses, references)  # per-hypothesis lists where streams are expected
print(f"references passed untransposed: BLEU {wrong.score:.2f} from {wrong.sys_len} hypothesis tokens "
      f"instead of {ours.hyp_len}, and no error")
assert wrong.sys_len < ours.hyp_len
# --8<-- [end:pitfalls]
