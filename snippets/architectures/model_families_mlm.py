"""Masked language modelling: BERT's 15% and 80/10/10, checked against transformers and a tiny BERT."""

# --8<-- [start:mask]
import torch

from genai_guide.objectives import mask_tokens

sentences = ["the big cat sat on the red mat", "a small dog ran under the old tree",
             "the red bird slept near a big rug", "a dog sat on the mat near the cat"]
specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]  # ids 0-4, as a tokenizer reserves them
vocab = specials + sorted({word for s in sentences for word in s.split()})
ID = {token: i for i, token in enumerate(vocab)}
PAD, CLS, SEP, MASK = ID["[PAD]"], ID["[CLS]"], ID["[SEP]"], ID["[MASK]"]
special_ids = [ID[t] for t in specials]

batch = torch.tensor([[CLS] + [ID[w] for w in s.split()] + [SEP] + [PAD] * (10 - len(s.split()))
                      for s in sentences])  # (4, 12): [CLS] words [SEP] padding

inputs, labels = mask_tokens(batch, len(vocab), MASK, special_ids, generator=torch.Generator().manual_seed(244))
for row in range(len(sentences)):
    print(" ".join(vocab[i] for i in inputs[row] if i != PAD))
    for pos in (labels[row] != -100).nonzero().flatten().tolist():
        original, shown = vocab[labels[row, pos]], vocab[inputs[row, pos]]
        kind = "[MASK]" if shown == "[MASK]" else "unchanged" if shown == original else f"random: {shown}"
        print(f"    predict position {pos}: {original!r} ({kind})")
# --8<-- [end:mask]

# --8<-- [start:stats]
V, BERT_PAD, BERT_UNK, BERT_CLS, BERT_SEP, BERT_MASK = 30522, 0, 100, 101, 102, 103  # bert-base-uncased ids
g = torch.Generator().manual_seed(0)
big = torch.randint(1000, V, (2000, 128), generator=g)  # 2,000 sequences of 128 ordinary tokens ...
lengths = torch.randint(16, 129, (2000,), generator=g)
positions = torch.arange(128)
big[:, 0] = BERT_CLS  # ... framed by [CLS] and [SEP], then padded
big[positions >= lengths[:, None] - 1] = BERT_SEP
big[positions >= lengths[:, None]] = BERT_PAD
bert_specials = [BERT_PAD, BERT_UNK, BERT_CLS, BERT_SEP, BERT_MASK]

big_inputs, big_labels = mask_tokens(big, V, BERT_MASK, bert_specials, generator=torch.Generator().manual_seed(1))
is_special = torch.isin(big, torch.tensor(bert_specials))
chosen = big_labels != -100
became_mask = chosen & (big_inputs == BERT_MASK)
unchanged = chosen & (big_inputs == big)
became_random = chosen & ~became_mask & ~unchanged
share = {name: (m.sum() / chosen.sum()).item() for name, m in
         (("[MASK]", became_mask), ("random", became_random), ("unchanged", unchanged))}
print(f"\n{(~is_special).sum().item():,} ordinary tokens, {chosen.sum().item():,} chosen "
      f"({chosen.sum().item() / (~is_special).sum().item():.2%}); special tokens chosen: {(chosen & is_special).sum().item()}")
print("of the chosen: " + ", ".join(f"{name} {p:.2%}" for name, p in share.items()))
assert (chosen & is_special).sum() == 0 and torch.equal(big_labels[chosen], big[chosen])
assert abs(chosen.sum() / (~is_special).sum() - 0.15) < 0.005
assert abs(share["[MASK]"] - 0.8) < 0.01 and abs(share["random"] - 0.1) < 0.01 and abs(share["unchanged"] - 0.1) < 0.01
# --8<-- [end:stats]

# --8<-- [start:reference]
from tokenizers import Tokenizer, models
from transformers import DataCollatorForLanguageModeling, PreTrainedTokenizerFast

tokenizer = PreTrainedTokenizerFast(  # a word-level tokenizer over the toy vocabulary, built offline
    tokenizer_object=Tokenizer(models.WordLevel(ID, unk_token="[UNK]")),
    pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15)
collator.generator = torch.Generator().manual_seed(244)  # the same seed as mask_tokens above
hf_inputs, hf_labels = collator.torch_mask_tokens(batch.clone(), special_tokens_mask=torch.isin(batch, torch.tensor(special_ids)))
assert torch.equal(hf_inputs, inputs) and torch.equal(hf_labels, labels)
print("\nDataCollatorForLanguageModeling, same generator: the same inputs and labels")
# --8<-- [end:reference]

# --8<-- [start:bert]
from transformers import BertConfig, BertForMaskedLM

torch.manual_seed(0)
config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                    intermediate_size=64, max_position_embeddings=16, pad_token_id=PAD)
bert = BertForMaskedLM(config).eval()  # random weights: the loss is near ln V, but it must agree
attention_mask = (batch != PAD).long()
out = bert(input_ids=inputs, attention_mask=attention_mask, labels=labels)

scored = labels != -100  # only the chosen positions count
log_probs = out.logits.log_softmax(dim=-1)  # (4, 12, V)
by_hand = -log_probs[scored].gather(1, labels[scored][:, None]).mean()
assert abs(by_hand - out.loss) < 1e-6
print(f"MLM loss over the {scored.sum().item()} chosen positions: by hand {by_hand.item():.4f}, "
      f"BertForMaskedLM {out.loss.item():.4f} (ln V = {torch.log(torch.tensor(len(vocab))).item():.4f})")

edited = inputs.clone()
edited[0, 8] = ID["rug"]  # change the last word of sentence 1: "mat" -> "rug"
change = (bert(input_ids=edited, attention_mask=attention_mask).logits[0] - out.logits[0]).abs().amax(-1)
moved = change[:10] > 1e-5  # the 10 real tokens of sentence 1
print("tokens of sentence 1 whose output changed:", moved.int().tolist())
assert moved.all()  # bidirectional: every real token sees the edit, the first one included
# --8<-- [end:bert]
