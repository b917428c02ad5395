"""Preference pairs with a hidden rule, and a tiny GPT-2 reward model trained on them with the
Bradley-Terry loss: does it find the rule?"""

# --8<-- [start:data]
from itertools import pairwise

import torch

from genai_guide.alignment import bradley_terry_loss, preference_accuracy, synthetic_preferences

torch.set_num_threads(1)  # the same numbers on every machine
WORDS = ["<pad>", "|", "please", "open", "close", "the", "door", "window", "now", "slowly", "it", "again"]
PAD, SEP, PLEASE = 0, 1, 2  # "|" separates the prompt from the response


def text(ids: torch.Tensor) -> str:
    return " ".join(WORDS[i] for i in ids.tolist())


# The hidden rule of our labeller: of two responses, the one that says "please" more often wins.
# Each response word is "please" with probability 0.5, so every count from 0 to 4 meets every other.
gen = torch.Generator().manual_seed(0)
prompts, chosen, rejected = synthetic_preferences(
    768, vocab_size=len(WORDS), target_id=PLEASE, prompt_length=3, response_length=4, first_id=2,
    target_probability=0.5, generator=gen)
print("prompt:  ", text(prompts[0]))
print("chosen:  ", text(chosen[0]))
print("rejected:", text(rejected[0]))


def join(prompts: torch.Tensor, responses: torch.Tensor) -> torch.Tensor:
    sep = torch.full((len(prompts), 1), SEP)
    return torch.cat([prompts, sep, responses], dim=1)  # (B, 3 + 1 + 4) token ids


train, test = slice(0, 512), slice(512, 768)  # 512 pairs to learn from, 256 held out
# --8<-- [end:data]

# --8<-- [start:model]
import torch.nn.functional as F
from transformers import AutoModelForSequenceClassification, GPT2Config

torch.manual_seed(0)
config = GPT2Config(vocab_size=len(WORDS), n_positions=8, n_embd=32, n_layer=2, n_head=2, num_labels=1,
                    resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,  # no dropout: a smoother, shorter run
                    bos_token_id=SEP, eos_token_id=SEP, pad_token_id=PAD)
# GPT2ForSequenceClassification: a scalar head on the last token's hidden state. A tiny model trains
# in float64: in float32, each CPU's rounding would grow into different rewards.
reward_model = AutoModelForSequenceClassification.from_config(config, dtype=torch.float64)


def reward(prompts: torch.Tensor, responses: torch.Tensor) -> torch.Tensor:
    return reward_model(join(prompts, responses)).logits.squeeze(-1)  # (B,) one score per response


optimizer = torch.optim.Adam(reward_model.parameters(), lr=3e-3)
for step in range(100):
    batch = torch.randint(0, 512, (64,), generator=gen)
    r_chosen, r_rejected = reward(prompts[batch], chosen[batch]), reward(prompts[batch], rejected[batch])
    loss = bradley_terry_loss(r_chosen, r_rejected)  # -log sigmoid(r_c - r_r), averaged
    # the same number as logistic regression on the reward difference, with label 1 = "chosen wins"
    chosen_wins = torch.ones_like(r_chosen)
    torch.testing.assert_close(loss, F.binary_cross_entropy_with_logits(r_chosen - r_rejected, chosen_wins))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    if step in (0, 99):
        print(f"step {step:3d}: loss {loss.item():.3f}")
# --8<-- [end:model]

# --8<-- [start:check]
reward_model.eval()
with torch.no_grad():
    r_chosen, r_rejected = reward(prompts[test], chosen[test]), reward(prompts[test], rejected[test])
accuracy = preference_accuracy(r_chosen, r_rejected).item()
print(f"held-out accuracy: {accuracy:.3f} on {len(r_chosen)} pairs")
assert accuracy > 0.9

# Did it learn the rule? Average reward of the held-out responses by how often they say "please".
responses = torch.cat([chosen[test], rejected[test]])
scores = torch.cat([r_chosen, r_rejected])
counts = (responses == PLEASE).sum(-1)
print("'please'  responses  mean reward")
means = []
for k in range(5):
    means.append(scores[counts == k].mean().item())
    print(f"{k:8d}  {int((counts == k).sum()):9d}  {means[-1]:+11.2f}")
assert all(a < b for a, b in pairwise(means))  # more "please", more reward
# --8<-- [end:check]
