"""The pieces of one PPO update in RLHF, on one five-token response, with numbers to check by hand."""

# --8<-- [start:rewards]
import torch

from genai_guide.alignment import (
    gae,
    kl_estimate,
    ppo_policy_loss,
    ppo_rewards,
    ppo_value_loss,
    whiten,
)


def show(name: str, row: torch.Tensor) -> None:
    print(f"{name:11}", " ".join(f"{x + 0.0:+.3f}" for x in row.tolist()))  # + 0.0 turns -0.0 into 0.0


# One sampled response of 5 tokens: their log-probabilities under the policy that sampled them and
# under the frozen reference (the SFT model), the reward model's score of the whole response, and
# the value head's prediction before each token.
logprobs = torch.tensor([[-1.2, -0.4, -2.0, -0.7, -0.1]])
ref_logprobs = torch.tensor([[-1.0, -0.9, -2.1, -0.8, -0.6]])
score = torch.tensor([1.5])
values = torch.tensor([[0.6, 0.8, 0.7, 1.0, 1.3]])
beta = 0.1

kl = kl_estimate(logprobs, ref_logprobs, "k1")  # log pi - log pi_ref, token by token
rewards = ppo_rewards(score, logprobs, ref_logprobs, beta=beta)  # -beta KL on each token, + score on the last
show("KL estimate", kl[0])
show("rewards", rewards[0])
# the rewards add up to the RLHF objective of this response: score - beta * KL(response)
torch.testing.assert_close(rewards.sum(), score[0] - beta * kl.sum())
# --8<-- [end:rewards]

# --8<-- [start:gae]
advantages, returns = gae(rewards, values, gamma=1.0, lam=0.95)
show("advantages", advantages[0])
show("returns", returns[0])
# lam = 1 (and gamma = 1): the advantage is simply the reward still to come minus the value
mc, _ = gae(rewards, values, gamma=1.0, lam=1.0)
to_go = rewards.flip(-1).cumsum(-1).flip(-1)  # r_t + r_{t+1} + ... + r_T
torch.testing.assert_close(mc, to_go - values)
advantages = whiten(advantages)  # mean 0, variance 1 over the batch (here: one response)
show("whitened", advantages[0])
# --8<-- [end:gae]

# --8<-- [start:clip]
# A few gradient steps later the policy gives these tokens new probabilities. The ratio
# pi_new / pi_old says how far each token has moved; PPO's clipped loss stops pushing once a token
# has moved more than eps = 0.2 in the direction its advantage asks for.
new_logprobs = (logprobs + torch.tensor([[0.30, -0.05, -0.40, 0.10, 0.25]])).requires_grad_()
loss, clip_fraction = ppo_policy_loss(new_logprobs, logprobs, advantages, clip_eps=0.2)
loss.backward()
ratio = (new_logprobs - logprobs).exp().detach()
show("ratio", ratio[0])
show("gradient", new_logprobs.grad[0])
print(f"policy loss {loss.item():.3f}, clipped fraction {clip_fraction.item():.1f}")
# tokens whose ratio left [0.8, 1.2] in their advantage's direction get no gradient at all
moved_too_far = ((ratio > 1.2) & (advantages > 0)) | ((ratio < 0.8) & (advantages < 0))
assert torch.equal(new_logprobs.grad == 0, moved_too_far)

new_values = values + torch.tensor([[0.5, -0.1, 0.3, -0.4, 0.1]])
value_loss, value_clip_fraction = ppo_value_loss(new_values, values, returns, clip_range=0.2)
print(f"value loss {value_loss.item():.3f}, clipped fraction {value_clip_fraction.item():.1f}")
# --8<-- [end:clip]
