"""Next sentence prediction, BERT's second pre-training objective: sentence pairs from a story, segment
ids, and BertForPreTraining's loss checked by hand as MLM plus NSP on the pooled [CLS] vector."""

import random
import re

import torch
import torch.nn.functional as F
from transformers import BertConfig, BertForPreTraining

from genai_guide.objectives import mask_tokens
from genai_guide.texts import read_text

sentences = re.split(r"(?<=[.!?])\s+", read_text("harbour").strip())


def words(sentence: str) -> list[str]:
    return re.findall(r"[a-z]+", sentence.lower())


specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
vocab = specials + sorted({w for s in sentences for w in words(s)})
ID = {token: i for i, token in enumerate(vocab)}
PAD, CLS, SEP, MASK = ID["[PAD]"], ID["[CLS]"], ID["[SEP]"], ID["[MASK]"]

rng = random.Random(0)
pairs = []  # (A, B, label): 0 = B is the sentence that follows A (IsNext), 1 = B is a random sentence (NotNext)
for i in rng.sample(range(len(sentences) - 1), 8):
    if rng.random() < 0.5:
        pairs.append((sentences[i], sentences[i + 1], 0))
    else:
        pairs.append((sentences[i], sentences[rng.choice([j for j in range(len(sentences)) if j not in (i, i + 1)])], 1))
for a, b, label in pairs[:2]:
    print(f"{['IsNext', 'NotNext'][label]:7}  A: {a!r}\n         B: {b!r}")

rows, segments = [], []
for a, b, _ in pairs:  # [CLS] A [SEP] B [SEP], with segment (token type) 0 for A and 1 for B
    ids_a, ids_b = [ID[w] for w in words(a)], [ID[w] for w in words(b)]
    rows.append([CLS, *ids_a, SEP, *ids_b, SEP])
    segments.append([0] * (len(ids_a) + 2) + [1] * (len(ids_b) + 1))
T = max(map(len, rows))
input_ids = torch.tensor([r + [PAD] * (T - len(r)) for r in rows])  # (8, T)
token_type_ids = torch.tensor([s + [0] * (T - len(s)) for s in segments])
attention_mask = (input_ids != PAD).long()
nsp_labels = torch.tensor([label for *_, label in pairs])
masked, mlm_labels = mask_tokens(input_ids, len(vocab), MASK, [ID[t] for t in specials],
                                 generator=torch.Generator().manual_seed(0))  # BERT trains both tasks at once
print(f"{len(pairs)} pairs: {(nsp_labels == 0).sum().item()} IsNext, {(nsp_labels == 1).sum().item()} NotNext; "
      f"{(mlm_labels != -100).sum().item()} tokens masked for MLM")

torch.manual_seed(0)
config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                    intermediate_size=64, max_position_embeddings=64, type_vocab_size=2, pad_token_id=PAD)
bert = BertForPreTraining(config).double().eval()  # random weights, float64
inputs = {"input_ids": masked, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
out = bert(**inputs, labels=mlm_labels, next_sentence_label=nsp_labels)

cls_vector = bert.bert(**inputs).last_hidden_state[:, 0]  # the final vector of [CLS]
nsp_logits = bert.cls.seq_relationship(torch.tanh(bert.bert.pooler.dense(cls_vector)))  # pooler, then 2 scores
assert torch.allclose(nsp_logits, out.seq_relationship_logits, atol=1e-12)
nsp_loss = F.cross_entropy(nsp_logits, nsp_labels)
scored = mlm_labels != -100
mlm_loss = F.cross_entropy(out.prediction_logits[scored], mlm_labels[scored])
assert abs(mlm_loss + nsp_loss - out.loss) < 1e-10
print(f"BertForPreTraining loss {out.loss.item():.4f} = MLM {mlm_loss.item():.4f} + NSP {nsp_loss.item():.4f} "
      f"(untrained: NSP near ln 2 = 0.6931)")
