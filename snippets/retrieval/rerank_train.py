"""Retrieve and rerank on the book's labelled set: BM25 returns 10 candidates, a tiny cross-encoder (a
one-layer BertForSequenceClassification with one output, built from a config, with a word-level
tokenizer built from the passages) rescores them. It is trained in float64 on keyword queries made from the passages,
never on the questions, and measured on all 30 labelled questions before and after reranking."""

# --8<-- [start:model]
import random

import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
from transformers import BertConfig, BertForSequenceClassification

from genai_guide.knowledge_base import load_labelled_set
from genai_guide.reranking import rerank
from genai_guide.sparse import BM25, tokenize

kb = load_labelled_set()
docs = kb.documents  # 44 passages, "<title>. <text>"

pre = pre_tokenizers.BertPreTokenizer()  # words and punctuation
words = sorted({w for d in docs for w, _ in pre.pre_tokenize_str(d.lower())})
vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", *words])}  # a word-level vocabulary
tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
tok.normalizer, tok.pre_tokenizer = normalizers.Lowercase(), pre
tok.post_processor = processors.TemplateProcessing(  # a pair reads "[CLS] query [SEP] passage [SEP]"
    single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
tok.enable_padding(pad_id=0, pad_token="[PAD]")
tok.enable_truncation(64)

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)  # float64: the same training on every CPU
config = BertConfig(vocab_size=tok.get_vocab_size(), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                    intermediate_size=64, max_position_embeddings=64, type_vocab_size=4, num_labels=1,
                    pad_token_id=0, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
cross_encoder = BertForSequenceClassification(config)  # one output: a relevance score (a logit)


def score_pairs(pairs: list[tuple[str, str]]) -> torch.Tensor:
    """(query, passage) pairs -> one score each, the two texts read together in one sequence."""
    batch = tok.encode_batch(pairs)
    types = torch.tensor([e.type_ids for e in batch])  # 0 query, 1 passage
    for row, e in enumerate(batch):  # +2: a word that also occurs in the other text (exact match)
        sides = [{i for i, t in zip(e.ids, e.type_ids) if t == side and i > 3} for side in (0, 1)]
        for col, (i, t) in enumerate(zip(e.ids, e.type_ids)):
            types[row, col] += 2 * (i in sides[1 - t])
    out = cross_encoder(input_ids=torch.tensor([e.ids for e in batch]),
                        attention_mask=torch.tensor([e.attention_mask for e in batch]), token_type_ids=types)
    return out.logits.squeeze(-1)  # (n_pairs,)


print(f"cross-encoder: {sum(p.numel() for p in cross_encoder.parameters()):,} parameters, "
      f"vocabulary {tok.get_vocab_size()} words")
# --8<-- [end:model]

# --8<-- [start:train]
bm25 = BM25([tokenize(d) for d in docs])
STOP = {"the", "a", "and", "to", "of", "in", "on", "is", "are", "at", "by", "for", "with", "from", "its", "it", "be"}
rng = random.Random(0)
groups = []  # (query, positive passage, 3 hard negatives: BM25's best other passages for the query)
for _ in range(2):
    for i, passage in enumerate(kb.passages):
        words = sorted({w for w in tokenize(passage.text) if w not in STOP})
        query = " ".join(rng.sample(words, 3))  # a keyword query, made from the passage
        negatives = [j for j, _ in bm25.search(tokenize(query), 4) if j != i][:3]
        groups.append([(query, docs[j]) for j in [i, *negatives]])
EPOCHS = 3
optimizer = torch.optim.Adam(cross_encoder.parameters(), lr=3e-3)
for step, start in enumerate(list(range(0, len(groups), 8)) * EPOCHS):
    logits = score_pairs([pair for g in groups[start:start + 8] for pair in g]).view(-1, 4)
    loss = torch.nn.functional.cross_entropy(logits, torch.zeros(len(logits), dtype=torch.long))  # positive first
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    if step in (0, 10 * EPOCHS):
        print(f"step {step + 1:2d}: loss {loss.item():.2f} (softmax over 1 positive and 3 BM25 negatives)")
# --8<-- [end:train]

# --8<-- [start:evaluate]
from genai_guide.retrieval_metrics import evaluate

ids, K = kb.passage_ids, 10
first_stage, reranked = {}, {}
with torch.no_grad():
    for q in kb.questions:
        candidates = [j for j, _ in bm25.search(tokenize(q.text), K)]  # stage 1: fast, over all 44 passages
        order = rerank(q.text, [docs[j] for j in candidates], score_pairs)  # stage 2: 10 forward passes
        scores = score_pairs([(q.text, docs[j]) for j in candidates])
        assert [i for i, _ in order] == torch.sort(scores, descending=True, stable=True).indices.tolist()
        rest = [j for j in range(len(docs)) if j not in candidates]
        first_stage[q.id] = [ids[j] for j in candidates + rest]
        reranked[q.id] = [ids[candidates[i]] for i, _ in order] + [ids[j] for j in rest]
qrels = kb.qrels()
print(f"{'':16} {'R@1':>5} {'R@3':>5} {'MRR':>5} {'nDCG@3':>6}   (30 questions never trained on)")
for name, run in (("BM25 top 10", first_stage), ("+ cross-encoder", reranked)):
    at1, at3 = evaluate(run, qrels, k=1), evaluate(run, qrels, k=3)
    print(f"{name:16} {at1['recall']:5.2f} {at3['recall']:5.2f} {at3['mrr']:5.2f} {at3['ndcg']:6.2f}")
assert evaluate(reranked, qrels, k=K)["recall"] == evaluate(first_stage, qrels, k=K)["recall"]  # same 10, new order
# --8<-- [end:evaluate]
