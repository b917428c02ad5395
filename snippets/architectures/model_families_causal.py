"""Causal language modelling: shifted labels, the loss by hand, and GPT2LMHeadModel's own loss."""

# --8<-- [start:shift]
import torch

from genai_guide.objectives import causal_lm_loss

text, other_text = "the cat sat on the mat", "a big dog ran"
vocab = ["<pad>", "<|endoftext|>"] + sorted(set(text.split()) | set(other_text.split()))
ID = {token: i for i, token in enumerate(vocab)}
PAD, EOS = ID["<pad>"], ID["<|endoftext|>"]

# GPT-2 separates documents with <|endoftext|>; opening with it gives the first word a context to be predicted from
sentence = [EOS] + [ID[w] for w in text.split()]
for t in range(1, len(sentence)):  # one forward pass trains all of these predictions at once
    context = " ".join(vocab[i] for i in sentence[:t])
    print(f"{context:>34} -> {vocab[sentence[t]]}")
# --8<-- [end:shift]

# --8<-- [start:gpt2]
from transformers import GPT2Config, GPT2LMHeadModel

torch.manual_seed(0)
config = GPT2Config(vocab_size=len(vocab), n_positions=16, n_embd=32, n_layer=2, n_head=2,
                    bos_token_id=EOS, eos_token_id=EOS, pad_token_id=PAD)  # special ids inside the vocabulary
gpt2 = GPT2LMHeadModel(config).eval()  # random weights: the loss is near ln V, but it must agree

second = [EOS] + [ID[w] for w in other_text.split()]
input_ids = torch.tensor([sentence, second + [PAD] * (len(sentence) - len(second))])  # (2, 7), right-padded
attention_mask = (input_ids != PAD).long()
labels = input_ids.masked_fill(attention_mask == 0, -100)  # padding is never a target

out = gpt2(input_ids=input_ids, attention_mask=attention_mask, labels=labels)  # the model shifts the labels itself
ours = causal_lm_loss(out.logits, labels)  # shift by one, then cross-entropy
assert abs(ours - out.loss) < 1e-6
targets = labels[:, 1:]  # position t is scored against token t + 1
log_probs = out.logits[:, :-1].log_softmax(-1)
by_hand = -log_probs[targets != -100].gather(1, targets[targets != -100][:, None]).mean()
assert abs(by_hand - out.loss) < 1e-6
print(f"\nCLM loss over {(targets != -100).sum().item()} predicted tokens: by hand {by_hand.item():.4f}, "
      f"causal_lm_loss {ours.item():.4f}, GPT2LMHeadModel {out.loss.item():.4f}")

edited = input_ids.clone()
edited[0, -1] = ID["dog"]  # change the last word of the first sentence: "mat" -> "dog"
moved = (gpt2(input_ids=edited, attention_mask=attention_mask).logits - out.logits)[0].abs().amax(-1) > 1e-5
print("positions that see the edit:", moved.int().tolist())
assert moved.tolist() == [False] * (len(sentence) - 1) + [True]  # causal: nothing flows backwards
# --8<-- [end:gpt2]
