"""The SFT loss three ways: the model's own loss with -100 labels, genai_guide.sft.masked_cross_entropy,
and the average of -log p written out by hand. A tiny random GPT-2: the values are ~ln V, the point is
that all three agree."""

# --8<-- [start:batch]
import math

import torch
import transformers
from transformers import GPT2Config, GPT2LMHeadModel

from genai_guide.sft import IGNORE_INDEX, completion_mask, labels_from_masks, masked_cross_entropy

transformers.logging.set_verbosity_error()
torch.manual_seed(0)
PAD, EOS = 0, 1
config = GPT2Config(vocab_size=32, n_embd=32, n_layer=2, n_head=4, n_positions=32,
                    bos_token_id=None, eos_token_id=EOS, pad_token_id=PAD)
model = GPT2LMHeadModel(config).eval()

# Two tokenized examples, (prompt ids, completion ids); each completion ends with EOS.
examples = [([5, 9], [20, 21, 22, 23, EOS]), ([8, 3, 12], [30, EOS])]
rows = [prompt + completion for prompt, completion in examples]
labels = [labels_from_masks(ids, completion_mask(prompt, ids)) for (prompt, _), ids in zip(examples, rows)]

# Right-pad to one length: PAD in the inputs, -100 in the labels, 0 in the attention mask.
L = max(len(ids) for ids in rows)
input_ids = torch.tensor([ids + [PAD] * (L - len(ids)) for ids in rows])  # (2, 7)
label_ids = torch.tensor([lab + [IGNORE_INDEX] * (L - len(lab)) for lab in labels])  # (2, 7)
attention_mask = torch.tensor([[1] * len(ids) + [0] * (L - len(ids)) for ids in rows])
print(input_ids)
print(label_ids)
# --8<-- [end:batch]

# --8<-- [start:loss]
out = model(input_ids=input_ids, attention_mask=attention_mask, labels=label_ids)
ours = masked_cross_entropy(out.logits, label_ids)

# By hand: the logits at position t-1 predict the label at t; average -log p over scored labels.
log_probs = out.logits.double().log_softmax(dim=-1)  # (2, 7, 32)
terms = [-log_probs[b, t - 1, label_ids[b, t]].item()
         for b in range(2) for t in range(1, L) if label_ids[b, t] != IGNORE_INDEX]
by_hand = sum(terms) / len(terms)

print(f"{len(terms)} scored tokens; uniform guess ln 32 = {math.log(32):.4f}")
print(f"model(..., labels=labels).loss  {out.loss.item():.4f}")
print(f"masked_cross_entropy            {ours.item():.4f}")
print(f"by hand                         {by_hand:.4f}")
assert abs(out.loss.item() - ours.item()) < 1e-6 and abs(by_hand - ours.item()) < 1e-5

# Per-sequence averaging weighs both examples equally instead of each token equally.
per_sequence = masked_cross_entropy(out.logits, label_ids, reduction="sequence")
print(f"mean of per-example means       {per_sequence.item():.4f}")
# Without the mask the prompts are learned too (labels = inputs, padding still ignored).
everything = input_ids.masked_fill(attention_mask == 0, IGNORE_INDEX)
print(f"loss on all {int((everything[:, 1:] != IGNORE_INDEX).sum())} tokens           "
      f"{model(input_ids, attention_mask=attention_mask, labels=everything).loss.item():.4f}")
# --8<-- [end:loss]
