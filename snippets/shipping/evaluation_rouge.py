"""ROUGE-1, ROUGE-2, ROUGE-L and ROUGE-Lsum from scratch, equal to Google's rouge-score; summary-level LCS
over newline-separated sentences, and the default tokenizer's blind spot for non-ASCII text."""

# --8<-- [start:scores]
from rouge_score import rouge_scorer

from genai_guide.metrics import rouge_l, rouge_lsum, rouge_n, rouge_tokenize, words

reference = ("The keeper climbed the tower and lit the lamp.\n"  # sentences separated by newlines
             "The light turned slowly over the water.")
candidate = ("The keeper lit the lamp in the tower.\n"
             "Slowly the light turned over the dark water.")
scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL", "rougeLsum"])
theirs = scorer.score(reference, candidate)  # score(target, prediction): the reference comes first
ours = {"rouge1": rouge_n(reference, candidate, 1), "rouge2": rouge_n(reference, candidate, 2),
        "rougeL": rouge_l(reference, candidate), "rougeLsum": rouge_lsum(reference, candidate)}
print("           precision  recall     F1")
for name, score in ours.items():
    assert (score.precision, score.recall, score.fmeasure) == tuple(theirs[name])
    print(f"{name:9s}  {score.precision:9.3f}  {score.recall:6.3f}  {score.fmeasure:5.3f}")
# --8<-- [end:scores]

# --8<-- [start:lsum]
swapped = "The light turned slowly over the water.\nThe keeper climbed the tower and lit the lamp."
lcs, lsum = rouge_l(reference, swapped), rouge_lsum(reference, swapped)
assert (lcs.fmeasure, lsum.fmeasure) == (scorer.score(reference, swapped)["rougeL"].fmeasure,
                                         scorer.score(reference, swapped)["rougeLsum"].fmeasure)
print(f"the reference's sentences in the other order: ROUGE-L {lcs.fmeasure:.3f}, ROUGE-Lsum {lsum.fmeasure:.3f}")
flat_lsum = rouge_lsum(reference.replace("\n", " "), candidate.replace("\n", " ")).fmeasure
print(f"without newlines ROUGE-Lsum = ROUGE-L: {flat_lsum:.3f} = {ours['rougeL'].fmeasure:.3f}")
assert flat_lsum == ours["rougeL"].fmeasure
# --8<-- [end:lsum]

# --8<-- [start:tokens]
french = "Le gardien a nettoyé la lampe et l'a rallumée."
greek = "Ο φύλακας καθάρισε τη λάμπα."
print(rouge_tokenize(french))
print(rouge_tokenize(greek), "-> ROUGE-1 of the text with itself:", scorer.score(greek, greek)["rouge1"].fmeasure)
assert rouge_n(greek, greek).fmeasure == 0.0


class UnicodeWords:  # rouge-score takes any object with a .tokenize(text) method
    def tokenize(self, text: str) -> list[str]:
        return words(text)  # lowercased runs of letters and digits in any script


fixed = rouge_scorer.RougeScorer(["rouge1"], tokenizer=UnicodeWords())
print(words(greek), "-> ROUGE-1:", fixed.score(greek, greek)["rouge1"].fmeasure)
assert rouge_n(greek, greek, tokenize=words).fmeasure == fixed.score(greek, greek)["rouge1"].fmeasure == 1.0
# --8<-- [end:tokens]
