"""DPO on a tiny GPT-2: preference pairs with a hidden rule, a frozen reference copy, and the
preference margin rising over 60 steps."""

# --8<-- [start:setup]
import copy

import torch
import transformers
from transformers import AutoModelForCausalLM, GPT2Config

from genai_guide.alignment import (
    dpo_loss,
    preference_accuracy,
    sequence_logprobs,
    synthetic_preferences,
)

torch.set_num_threads(1)  # the same numbers on every machine
transformers.logging.set_verbosity_error()
WORDS = ["<pad>", "|", "please", "open", "close", "the", "door", "window", "now", "slowly", "it", "again"]
PAD, SEP, PLEASE = 0, 1, 2
gen = torch.Generator().manual_seed(1)
prompts, chosen, rejected = synthetic_preferences(  # the response with more "please" is chosen
    384, vocab_size=len(WORDS), target_id=PLEASE, prompt_length=3, response_length=4, first_id=2, generator=gen)
train, test = slice(0, 256), slice(256, 384)


def join(prompts: torch.Tensor, responses: torch.Tensor) -> torch.Tensor:
    return torch.cat([prompts, torch.full((len(prompts), 1), SEP), responses], dim=1)  # (B, 8)


completion_mask = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])  # score the 4 response tokens, not the prompt or "|"

torch.manual_seed(0)
config = GPT2Config(vocab_size=len(WORDS), n_positions=8, n_embd=32, n_layer=2, n_head=2,
                    resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                    bos_token_id=SEP, eos_token_id=SEP, pad_token_id=PAD)
# A GPT2LMHeadModel in float64: in float32, each CPU's rounding would grow into different numbers.
policy = AutoModelForCausalLM.from_config(config, dtype=torch.float64)
reference = copy.deepcopy(policy).eval().requires_grad_(False)  # pi_ref: a frozen copy of the start


def logps(model, prompts: torch.Tensor, responses: torch.Tensor) -> torch.Tensor:
    ids = join(prompts, responses)
    return sequence_logprobs(model(ids).logits, ids, completion_mask.expand_as(ids))  # (B,) log pi(y | x)


# sequence_logprobs agrees with transformers' own loss when the prompt's labels are -100
ids = join(prompts[:8], chosen[:8])
labels = ids.masked_fill(completion_mask == 0, -100)
with torch.no_grad():
    out = policy(ids, labels=labels)
    n_scored = int((labels[:, 1:] != -100).sum())
    ours = -logps(policy, prompts[:8], chosen[:8]).sum() / n_scored
    torch.testing.assert_close(ours.float(), out.loss)  # transformers computes its loss in float32
with torch.no_grad():  # the reference never changes: score every pair under it once
    ref_chosen, ref_rejected = logps(reference, prompts, chosen), logps(reference, prompts, rejected)
# --8<-- [end:setup]

# --8<-- [start:train]
beta = 0.1
optimizer = torch.optim.Adam(policy.parameters(), lr=1e-3)
history = {"chosen": [], "rejected": [], "margin": []}
for step in range(60):
    batch = torch.randint(0, 256, (64,), generator=gen)
    both = logps(policy, prompts[batch].repeat(2, 1), torch.cat([chosen[batch], rejected[batch]]))  # one pass
    losses, chosen_rewards, rejected_rewards = dpo_loss(
        both[:64], both[64:], ref_chosen[batch], ref_rejected[batch], beta=beta)
    loss = losses.mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    history["chosen"].append(chosen_rewards.mean().item())  # beta log pi/pi_ref of the chosen responses
    history["rejected"].append(rejected_rewards.mean().item())
    history["margin"].append((chosen_rewards - rejected_rewards).mean().item())
    if step in (0, 59):
        print(f"step {step:2d}: loss {loss.item():.3f}, reward margin {history['margin'][-1]:+.3f}")

with torch.no_grad():
    _, held_chosen, held_rejected = dpo_loss(logps(policy, prompts[test], chosen[test]),
                                             logps(policy, prompts[test], rejected[test]),
                                             ref_chosen[test], ref_rejected[test], beta=beta)
accuracy = preference_accuracy(held_chosen, held_rejected).item()
print(f"held-out pairs: margin {(held_chosen - held_rejected).mean().item():+.3f}, accuracy {accuracy:.3f}")
assert history["margin"][0] == 0 and history["margin"][-1] > 0.5 and accuracy > 0.9
# --8<-- [end:train]

# --8<-- [start:sample]
def sample(model, prompts: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    ids = torch.cat([prompts, torch.full((len(prompts), 1), SEP)], dim=1)
    for _ in range(4):  # sample 4 response tokens, one at a time
        probs = model(ids).logits[:, -1].softmax(-1)
        ids = torch.cat([ids, torch.multinomial(probs, 1, generator=generator)], dim=1)
    return ids[:, 4:]


with torch.no_grad():
    before = sample(reference, prompts[test], torch.Generator().manual_seed(0))
    after = sample(policy, prompts[test], torch.Generator().manual_seed(0))
print(f"'please' per sampled response: reference {(before == PLEASE).sum(1).float().mean():.2f}, "
      f"after DPO {(after == PLEASE).sum(1).float().mean():.2f}")
print("a sample after DPO:", " ".join(WORDS[i] for i in after[0].tolist()))
# --8<-- [end:sample]

# --8<-- [start:figure]
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # draw to a file, no window
import matplotlib.pyplot as plt

plt.rcParams["svg.hashsalt"] = "genai-guide"  # stable ids: the same figure gives the same file
fig, ax = plt.subplots(figsize=(5, 3))
ax.plot(history["margin"], linewidth=1.5, label="margin (chosen - rejected)")
ax.plot(history["chosen"], linewidth=1, linestyle="--", label="chosen responses")
ax.plot(history["rejected"], linewidth=1, linestyle=":", label="rejected responses")
ax.axhline(0, color="gray", linewidth=0.5)
ax.set_xlabel("DPO step")
ax.set_ylabel(r"implicit reward $\beta \log \pi_\theta / \pi_{ref}$")
ax.set_title("DPO on a tiny GPT-2: the preference margin grows")
ax.legend()
ax.grid(alpha=0.3)
fig.tight_layout()
out_dir = Path(os.environ.get("GENAI_GUIDE_FIGURES", "."))
out_dir.mkdir(parents=True, exist_ok=True)
fig.savefig(out_dir / "dpo_margin.svg", metadata={"Date": None})
print("saved dpo_margin.svg")
# --8<-- [end:figure]
