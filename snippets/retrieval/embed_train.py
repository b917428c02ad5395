"""A sentence encoder built from nothing: a word-level tokenizer trained on the story, a one-layer BERT
from a config, mean pooling, trained contrastively with in-batch negatives on (query, line) pairs
generated from the story, in float64. Pooling, loss and search are checked against sentence-transformers."""

# --8<-- [start:data]
import random
import re

import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
from transformers import BertConfig, BertModel

from genai_guide.similarity import info_nce_loss, mean_pooling, top_k_search
from genai_guide.texts import read_text

lines = read_text("harbour").splitlines()  # the corpus: 20 lines of a story the book ships
STOP = {"the", "a", "and", "to", "was", "were", "of", "in", "it", "on", "they", "their", "than", "she", "her", "them"}
rng = random.Random(0)


def keyword_query(line: str, avoid: set[frozenset[str]] = frozenset()) -> str:
    """A query someone might type: three of the line's content words, in any order."""
    words = sorted({w for w in re.findall(r"[a-z']+", line.lower()) if w not in STOP})
    while frozenset(query := rng.sample(words, 3)) in avoid:  # a new combination of words
        pass
    return " ".join(query)


train = [[(keyword_query(line), i) for i, line in enumerate(lines)] for _ in range(12)]  # 12 batches of 20
seen = {frozenset(q.split()) for batch in train for q, _ in batch}
test = [(keyword_query(line, seen), i) for _ in range(5) for i, line in enumerate(lines)]  # 100 unseen queries
print(f"{len(lines)} lines; {sum(map(len, train))} training pairs such as {train[0][3]}; {len(test)} test queries")
# --8<-- [end:data]

# --8<-- [start:encoder]
tokenizer = Tokenizer(models.WordLevel(unk_token="[UNK]"))
tokenizer.normalizer = normalizers.Lowercase()
tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
tokenizer.train_from_iterator(lines, trainers.WordLevelTrainer(special_tokens=["[PAD]", "[UNK]"]))
tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)  # float64: the same training on every CPU
config = BertConfig(vocab_size=tokenizer.get_vocab_size(), hidden_size=32, num_hidden_layers=1,
                    num_attention_heads=2, intermediate_size=64, max_position_embeddings=64, pad_token_id=0,
                    hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
bert = BertModel(config, add_pooling_layer=False)


def encode(texts: list[str]) -> torch.Tensor:
    """Texts -> (len(texts), 32) sentence embeddings: token vectors, then their mean over real tokens."""
    batch = tokenizer.encode_batch(texts)
    ids = torch.tensor([e.ids for e in batch])
    mask = torch.tensor([e.attention_mask for e in batch])
    tokens = bert(input_ids=ids, attention_mask=mask).last_hidden_state  # (batch, seq, 32)
    return mean_pooling(tokens, mask)


print(f"vocabulary {tokenizer.get_vocab_size()} words, encoder {sum(p.numel() for p in bert.parameters()):,} parameters")
# --8<-- [end:encoder]

# --8<-- [start:train]
def recall_at_1() -> float:
    with torch.no_grad():
        _, ids = top_k_search(encode([q for q, _ in test]), encode(lines), k=1)
    return sum(ids[j, 0].item() == i for j, (_, i) in enumerate(test)) / len(test)


print(f"before training: recall@1 {recall_at_1():.2f}")
optimizer = torch.optim.Adam(bert.parameters(), lr=3e-3)
for epoch in range(6):
    total = 0.0
    for batch in train:  # each batch has one query per line: the other 19 lines are its negatives
        queries, docs = encode([q for q, _ in batch]), encode([lines[i] for _, i in batch])
        loss = info_nce_loss(queries, docs, scale=20.0)  # cross-entropy over the 20 x 20 cosine matrix
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item()
    if epoch in (0, 5):
        print(f"epoch {epoch + 1}: mean InfoNCE loss {total / len(train):.2f}")
print(f"after training:  recall@1 {recall_at_1():.2f}")
# --8<-- [end:train]

# --8<-- [start:search]
from sentence_transformers import util
from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
from sentence_transformers.sentence_transformer.modules import Pooling

with torch.no_grad():
    corpus = encode(lines)  # embedded once; each query is then one matrix product away
    question = "lamp tower keeper"
    scores, ids = top_k_search(encode([question]), corpus, k=3)
    print(f"{question!r}:")
    for s, i in zip(scores[0].tolist(), ids[0].tolist()):
        print(f"  {s:.2f}  line {i:2d}  {lines[i][:70]}")

    queries = encode([q for q, _ in test])
    hits = util.semantic_search(queries, corpus, top_k=5)  # sentence-transformers' exact search
    scores, ids = top_k_search(queries, corpus, k=5)
    assert ids.tolist() == [[h["corpus_id"] for h in row] for row in hits]
    torch.testing.assert_close(scores, torch.tensor([[h["score"] for h in row] for row in hits]))

    batch = tokenizer.encode_batch(lines[:4])
    mask = torch.tensor([e.attention_mask for e in batch])
    tokens = bert(input_ids=torch.tensor([e.ids for e in batch]), attention_mask=mask).last_hidden_state
    pooled = Pooling(32, pooling_mode="mean")({"token_embeddings": tokens, "attention_mask": mask})
    torch.testing.assert_close(mean_pooling(tokens, mask), pooled["sentence_embedding"])

    q, d = encode([q for q, _ in train[0]]), encode([lines[i] for _, i in train[0]])
    reference = MultipleNegativesRankingLoss(None, scale=20.0).compute_loss_from_embeddings([q, d], labels=None)
    torch.testing.assert_close(info_nce_loss(q, d, scale=20.0), reference)
print("equal to sentence-transformers: semantic_search, Pooling(mean), MultipleNegativesRankingLoss")
# --8<-- [end:search]
