"""genai_guide.alignment against trl 1.16 and against trl's own PPO code.

- The reward-model loss is compared with `trl.RewardTrainer.compute_loss`, the DPO losses and metrics
  with `trl.DPOTrainer._compute_loss`, and the clipped surrogate plus k3 KL with
  `trl.GRPOTrainer._compute_loss`: each method is called directly, on a stand-in trainer that holds
  only the attributes the method reads, with the same tensors as ours (1e-6 in float32).
- trl 1.16 ships no PPO: `PPOTrainer` left the top level in trl 1.10 and was deleted in
  huggingface/trl#7020. Its per-token rewards, GAE, whitening, clipped policy loss and clipped value
  loss are reproduced line for line below from `trl/experimental/ppo/ppo_trainer.py` (`masked_mean`,
  `masked_var`, `masked_whiten` and `PPOTrainer.train`, huggingface/trl commit 0062ee10a9bc), and
  checked against hand-derived closed forms from Schulman et al. (2015, 2017).
- The sequence log-probabilities are compared with a direct gather, with trl's `selective_log_softmax`,
  and with trl's fused LM head (`add_fused_lm_head`) on a tiny GPT-2.
"""

from __future__ import annotations

import copy
import types
from collections import defaultdict

import pytest
import torch
import torch.nn.functional as F

from genai_guide.alignment import (
    bradley_terry_loss,
    dpo_loss,
    gae,
    kl_estimate,
    ppo_policy_loss,
    ppo_rewards,
    ppo_value_loss,
    preference_accuracy,
    sequence_logprobs,
    synthetic_preferences,
    token_logprobs,
    whiten,
)

TOL = {"atol": 1e-6, "rtol": 1e-6}


# ---------------------------------------------------------------- stand-in trainers for trl's methods

class _Accelerator:
    """The part of `accelerate.Accelerator` the loss methods call, for one process."""

    device = torch.device("cpu")
    num_processes = 1
    sync_gradients = True

    def gather(self, x):
        return x

    def gather_for_metrics(self, x):
        return x

    def reduce(self, x, reduction="sum"):
        return x


def _standin(trainer_cls, **attributes):
    """A trainer object without __init__: only the attributes its loss method reads."""
    trainer = object.__new__(trainer_cls)
    state = {"model": types.SimpleNamespace(training=False), "accelerator": _Accelerator(),
             "_metrics": {"train": defaultdict(list), "eval": defaultdict(list)},
             "_total_train_tokens": 0, "_tp_size": 1, "aux_loss_enabled": False}
    state.update(attributes)
    for name, value in state.items():
        object.__setattr__(trainer, name, value)
    return trainer


def _metrics(trainer):
    return {k: v[-1] for k, v in trainer._metrics["eval"].items()}


# ---------------------------------------------------------------- reward model (Bradley-Terry)

@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("use_margin", [False, True])
@pytest.mark.parametrize("center", [None, 0.01])
def test_bradley_terry_loss_equals_reward_trainer(seed, use_margin, center):
    from trl import RewardTrainer

    gen = torch.Generator().manual_seed(seed)
    B = int(torch.randint(1, 17, (1,), generator=gen))
    chosen, rejected = 2 * torch.randn(B, generator=gen), 2 * torch.randn(B, generator=gen)
    inputs = {"input_ids": torch.zeros(2 * B, 3, dtype=torch.long), "attention_mask": torch.ones(2 * B, 3)}
    margin = None
    if use_margin:
        margin = torch.rand(B, generator=gen)
        inputs["margin"] = margin

    def reward_model(**kwargs):  # a sequence-classification model's output: one logit per sequence
        return types.SimpleNamespace(logits=torch.cat([chosen, rejected]).unsqueeze(-1))

    trainer = _standin(RewardTrainer, args=types.SimpleNamespace(center_rewards_coefficient=center))
    ref = RewardTrainer.compute_loss(trainer, reward_model, inputs)
    ours = bradley_terry_loss(chosen, rejected, margin=margin, center_coefficient=center)
    torch.testing.assert_close(ours, ref, **TOL)
    m = _metrics(trainer)
    assert preference_accuracy(chosen, rejected).item() == pytest.approx(m["accuracy"], abs=1e-7)
    assert (chosen - rejected).mean().item() == pytest.approx(m["margin"], abs=1e-6)


def test_bradley_terry_loss_is_logistic_regression_on_the_reward_difference():
    gen = torch.Generator().manual_seed(0)
    chosen, rejected = torch.randn(64, generator=gen), torch.randn(64, generator=gen)
    ref = F.binary_cross_entropy_with_logits(chosen - rejected, torch.ones(64))  # label 1: "chosen wins"
    torch.testing.assert_close(bradley_terry_loss(chosen, rejected), ref, **TOL)
    torch.testing.assert_close(bradley_terry_loss(chosen, rejected, margin=0.5),
                               F.binary_cross_entropy_with_logits(chosen - rejected - 0.5, torch.ones(64)), **TOL)
    # only differences matter: shifting both rewards changes nothing
    torch.testing.assert_close(bradley_terry_loss(chosen + 3.0, rejected + 3.0), ref, **TOL)
    assert bradley_terry_loss(torch.zeros(3), torch.zeros(3)).item() == pytest.approx(0.693147, abs=1e-6)  # ln 2


# ---------------------------------------------------------------- trl's PPO, reproduced from its source
# trl/experimental/ppo/ppo_trainer.py at huggingface/trl@0062ee10a9bc (removed by huggingface/trl#7020)

INVALID_LOGPROB = 1.0


def _trl_masked_mean(values, mask, axis=None):
    if axis is not None:
        return (values * mask).sum(axis=axis) / mask.sum(axis=axis)
    return (values * mask).sum() / mask.sum()


def _trl_masked_var(values, mask, unbiased=True):
    mean = _trl_masked_mean(values, mask)
    centered_values = values - mean
    variance = _trl_masked_mean(centered_values**2, mask)
    if unbiased:
        mask_sum = mask.sum()
        bessel_correction = mask_sum / (mask_sum - 1)
        variance = variance * bessel_correction
    return variance


def _trl_masked_whiten(values, mask, shift_mean=True):
    mean, var = _trl_masked_mean(values, mask), _trl_masked_var(values, mask)
    whitened = (values - mean) * torch.rsqrt(var + 1e-8)
    if not shift_mean:
        whitened += mean
    return whitened


def _trl_rewards_advantages_returns(logprobs, ref_logprobs, scores, values, sequence_lengths, *,
                                    kl_coef, kl_estimator, gamma, lam, whiten_rewards=False):
    """PPOTrainer.train, "4. compute rewards" to "6. compute advantages and returns"."""
    responses_shape = logprobs.shape
    response_idxs = torch.arange(responses_shape[1]).repeat(responses_shape[0], 1)
    padding_mask = response_idxs > sequence_lengths.unsqueeze(1)
    logprobs = torch.masked_fill(logprobs, padding_mask, INVALID_LOGPROB)
    ref_logprobs = torch.masked_fill(ref_logprobs, padding_mask, INVALID_LOGPROB)
    sequence_lengths_p1 = sequence_lengths + 1
    padding_mask_p1 = response_idxs > (sequence_lengths_p1.unsqueeze(1))
    values = torch.masked_fill(values, padding_mask_p1, 0)

    logr = ref_logprobs - logprobs
    kl = -logr if kl_estimator == "k1" else (logr.exp() - 1) - logr
    non_score_reward = -kl_coef * kl
    rewards = non_score_reward.clone()
    actual_start = torch.arange(rewards.size(0))
    actual_end = torch.where(sequence_lengths_p1 < rewards.size(1), sequence_lengths_p1, sequence_lengths)
    rewards[actual_start, actual_end] += scores
    if whiten_rewards:
        rewards = _trl_masked_whiten(rewards, mask=~padding_mask_p1, shift_mean=False)
        rewards = torch.masked_fill(rewards, padding_mask_p1, 0)

    lastgaelam = 0
    advantages_reversed = []
    gen_length = responses_shape[1]
    for t in reversed(range(gen_length)):
        nextvalues = values[:, t + 1] if t < gen_length - 1 else 0.0
        delta = rewards[:, t] + gamma * nextvalues - values[:, t]
        lastgaelam = delta + gamma * lam * lastgaelam
        advantages_reversed.append(lastgaelam)
    advantages = torch.stack(advantages_reversed[::-1], axis=1)
    returns = advantages + values
    advantages = _trl_masked_whiten(advantages, ~padding_mask)
    advantages = torch.masked_fill(advantages, padding_mask, 0)
    return kl, rewards, advantages, returns


def _trl_policy_and_value_losses(new_logprobs, mb_logprobs, mb_advantage, vpred, mb_values, mb_return,
                                 padding_mask, padding_mask_p1, *, cliprange, cliprange_value):
    """PPOTrainer.train, the loss of one micro-batch."""
    vpredclipped = torch.clamp(vpred, mb_values - cliprange_value, mb_values + cliprange_value)
    vf_losses1 = torch.square(vpred - mb_return)
    vf_losses2 = torch.square(vpredclipped - mb_return)
    vf_loss_max = torch.max(vf_losses1, vf_losses2)
    vf_loss = 0.5 * _trl_masked_mean(vf_loss_max, ~padding_mask_p1)
    vf_clipfrac = _trl_masked_mean((vf_losses2 > vf_losses1).float(), ~padding_mask_p1)
    logprobs_diff = new_logprobs - mb_logprobs
    ratio = torch.exp(logprobs_diff)
    pg_losses = -mb_advantage * ratio
    pg_losses2 = -mb_advantage * torch.clamp(ratio, 1.0 - cliprange, 1.0 + cliprange)
    pg_loss_max = torch.max(pg_losses, pg_losses2)
    pg_loss = _trl_masked_mean(pg_loss_max, ~padding_mask)
    pg_clipfrac = _trl_masked_mean((pg_losses2 > pg_losses).float(), ~padding_mask)
    return pg_loss, pg_clipfrac, vf_loss, vf_clipfrac


def _logprobs(gen, B, T, scale=1.0):
    return -scale * torch.rand(B, T, generator=gen) * 3  # log-probabilities in (-3, 0]


# ---------------------------------------------------------------- KL estimators

@pytest.mark.parametrize("estimator", ["k1", "k3"])
def test_kl_estimate_equals_trl_ppo(estimator):
    gen = torch.Generator().manual_seed(1)
    logprobs, ref_logprobs = _logprobs(gen, 4, 7), _logprobs(gen, 4, 7)
    full = torch.full((4,), 6)  # no padding
    kl, *_ = _trl_rewards_advantages_returns(logprobs, ref_logprobs, torch.zeros(4), torch.zeros(4, 7), full,
                                             kl_coef=0.05, kl_estimator=estimator, gamma=1.0, lam=0.95)
    torch.testing.assert_close(kl_estimate(logprobs, ref_logprobs, estimator), kl, **TOL)


def test_k3_equals_the_kl_of_trl_grpo():
    """GRPOTrainer._compute_loss (trl 1.16): per_token_kl = exp(ref - logp) - (ref - logp) - 1."""
    import inspect

    from trl import GRPOTrainer

    source = inspect.getsource(GRPOTrainer._compute_loss)
    assert "torch.exp(ref_per_token_logps - per_token_logps) - (ref_per_token_logps - per_token_logps) - 1" in source
    gen = torch.Generator().manual_seed(2)
    per_token_logps, ref_per_token_logps = _logprobs(gen, 3, 5), _logprobs(gen, 3, 5)
    per_token_kl = torch.exp(ref_per_token_logps - per_token_logps) - (ref_per_token_logps - per_token_logps) - 1
    torch.testing.assert_close(kl_estimate(per_token_logps, ref_per_token_logps, "k3"), per_token_kl, **TOL)


def test_kl_estimators_average_to_the_exact_kl():
    """On tokens sampled from pi, k1 and k3 are unbiased for KL(pi || pi_ref); k2 is close for nearby models."""
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(20, generator=gen, dtype=torch.float64)
    ref_logits = logits + 0.3 * torch.randn(20, generator=gen, dtype=torch.float64)
    logp, ref_logp = F.log_softmax(logits, -1), F.log_softmax(ref_logits, -1)
    exact = (logp.exp() * (logp - ref_logp)).sum()
    samples = torch.multinomial(logp.exp(), 400_000, replacement=True, generator=gen)
    for estimator, tol in (("k1", 0.003), ("k3", 0.002), ("k2", 0.01)):
        mean = kl_estimate(logp[samples], ref_logp[samples], estimator).mean()
        assert abs(mean - exact) < tol, (estimator, mean.item(), exact.item())
    assert (kl_estimate(logp[samples], ref_logp[samples], "k3") >= 0).all()
    assert (kl_estimate(logp[samples], ref_logp[samples], "k1") < 0).any()  # k1 can be negative per token


# ---------------------------------------------------------------- per-token rewards, GAE, whitening

@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("estimator", ["k1", "k3"])
def test_ppo_rewards_gae_and_whitening_equal_trl_ppo(seed, estimator):
    """Full-length responses (no padding), where trl puts the score on the last token too."""
    gen = torch.Generator().manual_seed(seed)
    B, T = int(torch.randint(2, 9, (1,), generator=gen)), int(torch.randint(1, 12, (1,), generator=gen))
    logprobs, ref_logprobs = _logprobs(gen, B, T), _logprobs(gen, B, T)
    scores, values = torch.randn(B, generator=gen), torch.randn(B, T, generator=gen)
    kl_coef, gamma, lam = [(0.05, 1.0, 0.95), (0.2, 0.99, 0.9), (0.0, 1.0, 1.0), (0.1, 0.9, 0.0)][seed]
    _, ref_rewards, ref_advantages, ref_returns = _trl_rewards_advantages_returns(
        logprobs, ref_logprobs, scores, values, torch.full((B,), T - 1),
        kl_coef=kl_coef, kl_estimator=estimator, gamma=gamma, lam=lam)

    rewards = ppo_rewards(scores, logprobs, ref_logprobs, beta=kl_coef, estimator=estimator)
    advantages, returns = gae(rewards, values, gamma=gamma, lam=lam)
    torch.testing.assert_close(rewards, ref_rewards, **TOL)
    torch.testing.assert_close(returns, ref_returns, **TOL)
    if B * T >= 2:
        torch.testing.assert_close(whiten(advantages), ref_advantages, **TOL)


def test_whiten_equals_trl_masked_whiten():
    gen = torch.Generator().manual_seed(3)
    x = 3 * torch.randn(5, 9, generator=gen) + 2
    mask = torch.rand(5, 9, generator=gen) > 0.3
    for shift_mean in (True, False):
        ref = torch.masked_fill(_trl_masked_whiten(x, mask, shift_mean=shift_mean), ~mask, 0)
        torch.testing.assert_close(whiten(x, mask, shift_mean=shift_mean), ref, **TOL)
    out = whiten(x, mask)
    assert abs(out[mask].mean().item()) < 1e-6 and abs(out[mask].std().item() - 1) < 1e-5


def test_gae_equals_its_closed_form():
    """A_t = sum_l (gamma lam)^l delta_{t+l} (Schulman et al. 2015), in float64."""
    gen = torch.Generator().manual_seed(4)
    B, T, gamma, lam = 3, 8, 0.97, 0.9
    rewards = torch.randn(B, T, generator=gen, dtype=torch.float64)
    values = torch.randn(B, T, generator=gen, dtype=torch.float64)
    next_values = torch.cat([values[:, 1:], torch.zeros(B, 1, dtype=torch.float64)], dim=1)
    delta = rewards + gamma * next_values - values
    expected = torch.stack([sum((gamma * lam) ** l * delta[:, t + l] for l in range(T - t)) for t in range(T)], 1)
    advantages, returns = gae(rewards, values, gamma, lam)
    torch.testing.assert_close(advantages, expected, atol=1e-12, rtol=0)
    torch.testing.assert_close(returns, expected + values, atol=1e-12, rtol=0)
    # lam = 1: the Monte-Carlo return (discounted reward-to-go) minus the value
    to_go = torch.stack([sum(gamma**l * rewards[:, t + l] for l in range(T - t)) for t in range(T)], 1)
    torch.testing.assert_close(gae(rewards, values, gamma, 1.0)[0], to_go - values, atol=1e-12, rtol=0)
    # lam = 0: the one-step TD residual
    torch.testing.assert_close(gae(rewards, values, gamma, 0.0)[0], delta, atol=1e-12, rtol=0)


def test_padded_responses_equal_their_unpadded_rows():
    """With a mask, each row is computed as if it were cut at its last token (the score lands there)."""
    gen = torch.Generator().manual_seed(5)
    B, T = 4, 6
    lengths = torch.tensor([6, 1, 3, 5])
    mask = torch.arange(T) < lengths[:, None]
    logprobs, ref_logprobs = _logprobs(gen, B, T), _logprobs(gen, B, T)
    scores, values = torch.randn(B, generator=gen), torch.randn(B, T, generator=gen)
    rewards = ppo_rewards(scores, logprobs, ref_logprobs, beta=0.1, mask=mask)
    advantages, returns = gae(rewards, values, 0.99, 0.95, mask=mask)
    for i, n in enumerate(lengths.tolist()):
        row_rewards = ppo_rewards(scores[i : i + 1], logprobs[i : i + 1, :n], ref_logprobs[i : i + 1, :n], beta=0.1)
        row_adv, row_ret = gae(row_rewards, values[i : i + 1, :n], 0.99, 0.95)
        torch.testing.assert_close(rewards[i, :n], row_rewards[0], **TOL)
        torch.testing.assert_close(advantages[i, :n], row_adv[0], **TOL)
        torch.testing.assert_close(returns[i, :n], row_ret[0], **TOL)
        assert rewards[i, n:].eq(0).all() and advantages[i, n:].eq(0).all() and returns[i, n:].eq(0).all()
        # the score sits on the last token, the KL penalty on every token
        expected = -0.1 * (logprobs[i, :n] - ref_logprobs[i, :n])
        expected[-1] += scores[i]
        torch.testing.assert_close(rewards[i, :n], expected, **TOL)


# ---------------------------------------------------------------- clipped policy and value losses

@pytest.mark.parametrize("seed", range(4))
def test_policy_and_value_losses_equal_trl_ppo(seed):
    gen = torch.Generator().manual_seed(10 + seed)
    B, T = 5, 7
    lengths = torch.randint(1, T + 1, (B,), generator=gen)
    sequence_lengths = lengths - 1  # trl: index of the last response token
    idx = torch.arange(T).repeat(B, 1)
    padding_mask, padding_mask_p1 = idx > sequence_lengths[:, None], idx > sequence_lengths[:, None] + 1
    old = _logprobs(gen, B, T)
    new = old + 0.4 * torch.randn(B, T, generator=gen)  # ratios spread well beyond 1 +- 0.2
    new = torch.masked_fill(new, padding_mask, INVALID_LOGPROB)
    old = torch.masked_fill(old, padding_mask, INVALID_LOGPROB)
    advantages = torch.masked_fill(torch.randn(B, T, generator=gen), padding_mask, 0)
    old_values, returns = torch.randn(B, T, generator=gen), torch.randn(B, T, generator=gen)
    values = old_values + 0.5 * torch.randn(B, T, generator=gen)
    eps, c = [(0.2, 0.2), (0.1, 0.5), (0.3, 0.05), (0.9, 1.0)][seed]
    pg_loss, pg_clipfrac, vf_loss, vf_clipfrac = _trl_policy_and_value_losses(
        new, old, advantages, values, old_values, returns, padding_mask, padding_mask_p1,
        cliprange=eps, cliprange_value=c)
    loss, clipfrac = ppo_policy_loss(new, old, advantages, clip_eps=eps, mask=~padding_mask)
    torch.testing.assert_close(loss, pg_loss, **TOL)
    torch.testing.assert_close(clipfrac, pg_clipfrac, **TOL)
    loss, clipfrac = ppo_value_loss(values, old_values, returns, clip_range=c, mask=~padding_mask_p1)
    torch.testing.assert_close(loss, vf_loss, **TOL)
    torch.testing.assert_close(clipfrac, vf_clipfrac, **TOL)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("beta", [0.0, 0.04])
def test_clipped_surrogate_plus_k3_equals_trl_grpo_loss(seed, beta):
    """GRPOTrainer._compute_loss (trl 1.16, loss_type 'bnpo'): -min(rho A, clip(rho) A) + beta k3, token mean."""
    from trl import GRPOTrainer

    gen = torch.Generator().manual_seed(20 + seed)
    B, P, T = 4, 3, 6
    completion_mask = (torch.arange(T) < torch.randint(1, T + 1, (B, 1), generator=gen)).long()
    logps = _logprobs(gen, B, T)
    old = logps + 0.3 * torch.randn(B, T, generator=gen)
    ref = logps + 0.3 * torch.randn(B, T, generator=gen)
    advantages = torch.randn(B, generator=gen)  # GRPO: one advantage per completion
    eps = [0.2, 0.1, 0.28, 0.5][seed]
    trainer = _standin(
        GRPOTrainer, beta=beta, loss_type="bnpo", epsilon_low=eps, epsilon_high=eps,
        importance_sampling_level="token", top_entropy_quantile=1.0, off_policy_mask_threshold=None,
        use_vllm=False, vllm_importance_sampling_correction=False, _entropy_bonus_enabled=False,
        args=types.SimpleNamespace(delta=None, use_bias_correction_kl=False),
        _get_per_token_logps_and_entropies=lambda *a, **k: (logps, torch.zeros(B, T), None))
    inputs = {"prompt_ids": torch.zeros(B, P, dtype=torch.long), "prompt_mask": torch.ones(B, P, dtype=torch.long),
              "completion_ids": torch.zeros(B, T, dtype=torch.long), "completion_mask": completion_mask,
              "advantages": advantages, "old_per_token_logps": old, "ref_per_token_logps": ref}
    ref_loss = GRPOTrainer._compute_loss(trainer, None, inputs)

    mask = completion_mask.bool()
    per_token_advantages = advantages[:, None].expand(B, T)
    loss, clipfrac = ppo_policy_loss(logps, old, per_token_advantages, clip_eps=eps, mask=mask)
    if beta:
        loss = loss + beta * (kl_estimate(logps, ref, "k3") * mask).sum() / mask.sum()
    torch.testing.assert_close(loss, ref_loss, **TOL)
    assert clipfrac.item() == pytest.approx(_metrics(trainer)["clip_ratio/region_mean"], abs=1e-6)


def test_clipped_tokens_get_no_gradient():
    """Past 1 + eps with A > 0 (or below 1 - eps with A < 0) the clipped term is constant in theta."""
    old = torch.log(torch.tensor([0.2, 0.2, 0.2, 0.2]))
    new = torch.log(torch.tensor([0.3, 0.22, 0.1, 0.19])).requires_grad_()  # ratios 1.5, 1.1, 0.5, 0.95
    advantages = torch.tensor([1.0, 1.0, -1.0, -1.0])
    loss, clipfrac = ppo_policy_loss(new, old, advantages, clip_eps=0.2)
    loss.backward()
    assert new.grad[0] == 0 and new.grad[2] == 0  # clipped: ratio left the trust region in A's direction
    assert new.grad[1] != 0 and new.grad[3] != 0  # inside the region: the ordinary policy gradient
    assert clipfrac.item() == 0.5


# ---------------------------------------------------------------- sequence log-probabilities

def _completion_batch(gen, B, L, V):
    """Right-padded prompt + completion ids with the masks trl's DPO collator builds."""
    ids = torch.randint(1, V, (B, L), generator=gen)
    prompt_len = torch.randint(1, L - 1, (B,), generator=gen)
    total = torch.clamp(prompt_len + torch.randint(1, L, (B,), generator=gen), max=L)
    pos = torch.arange(L)
    attention_mask = (pos < total[:, None]).long()
    completion_mask = ((pos >= prompt_len[:, None]) & (pos < total[:, None])).long()
    ids = ids.masked_fill(attention_mask == 0, 0)  # pad id 0
    return ids, attention_mask, completion_mask


@pytest.mark.parametrize("seed", range(3))
def test_sequence_logprobs_equal_a_direct_gather_and_trl_selective_log_softmax(seed):
    from trl.trainer.utils import selective_log_softmax

    gen = torch.Generator().manual_seed(seed)
    B, L, V = 4, 9, 13
    ids, _, completion_mask = _completion_batch(gen, B, L, V)
    logits = 3 * torch.randn(B, L, V, generator=gen)
    per_token = token_logprobs(logits, ids)
    torch.testing.assert_close(per_token, selective_log_softmax(logits[:, :-1], ids[:, 1:]), **TOL)
    expected = torch.zeros(B)
    for b in range(B):  # one token at a time: the logits at i - 1 predict token i
        for i in range(1, L):
            if completion_mask[b, i]:
                expected[b] += F.log_softmax(logits[b, i - 1], -1)[ids[b, i]]
    torch.testing.assert_close(sequence_logprobs(logits, ids, completion_mask), expected, **TOL)
    # the prompt is masked out: changing prompt tokens' scores (not the ids) leaves the sum unchanged
    prompt_positions = (completion_mask == 0) & (torch.arange(L) < L - 1)
    shifted = logits.clone()
    shifted[:, :-1][completion_mask[:, 1:] == 0] += 5.0
    torch.testing.assert_close(sequence_logprobs(shifted, ids, completion_mask), expected, **TOL)
    assert prompt_positions.any()


def _tiny_gpt2(seed, V=17):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=V, n_positions=16, n_embd=16, n_layer=2, n_head=2,
                        bos_token_id=1, eos_token_id=1, pad_token_id=0)
    return GPT2LMHeadModel(config).eval()


def test_sequence_logprobs_equal_trl_fused_lm_head_on_gpt2():
    from trl.trainer.utils import add_fused_lm_head

    gen = torch.Generator().manual_seed(7)
    model = _tiny_gpt2(0)
    ids, attention_mask, completion_mask = _completion_batch(gen, 6, 12, 17)
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=attention_mask).logits
        ours = sequence_logprobs(logits, ids, completion_mask)
        add_fused_lm_head(model)
        labels = ids.masked_fill(completion_mask == 0, -100)
        ref = model(input_ids=ids, attention_mask=attention_mask, labels=labels, fused_lm_head=True).log_probs.sum(1)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)


# ---------------------------------------------------------------- DPO

def _dpo_standin(beta, loss_type, label_smoothing=0.0, **extra):
    from trl import DPOTrainer

    attributes = {"beta": beta, "loss_types": [loss_type], "loss_weights": [1.0], "label_smoothing": label_smoothing,
                  "f_divergence_type": "reverse_kl", "ld_alpha": None, "use_weighting": False,
                  "precompute_ref_logps": True, "ref_model": None,
                  "args": types.SimpleNamespace(gradient_checkpointing_kwargs=None)}
    attributes.update(extra)
    return _standin(DPOTrainer, **attributes)


def _logps_model(per_token_logps):
    """A policy whose fused LM head returns the given per-token log-probabilities (zero where masked)."""

    def model(labels, **kwargs):
        keep = labels[:, 1:] != -100
        zeros = torch.zeros_like(per_token_logps)
        return types.SimpleNamespace(log_probs=per_token_logps * keep, entropy=zeros, mean_logits=zeros,
                                     is_top1=torch.zeros_like(keep))
    return model


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("loss_type,beta,label_smoothing", [
    ("sigmoid", 0.1, 0.0), ("sigmoid", 0.5, 0.0), ("hinge", 0.1, 0.0), ("hinge", 1.0, 0.0),
    ("ipo", 0.1, 0.0), ("ipo", 0.7, 0.0), ("robust", 0.1, 0.1), ("robust", 0.3, 0.25)])
def test_dpo_loss_equals_trl_dpo_trainer(seed, loss_type, beta, label_smoothing):
    """DPOTrainer._compute_loss on the same per-token log-probabilities: loss, rewards, margins, accuracy."""
    from trl import DPOTrainer

    gen = torch.Generator().manual_seed(seed)
    B, L = 5, 10
    ids, attention_mask, completion_mask = _completion_batch(gen, 2 * B, L, 20)  # rows: B chosen, then B rejected
    per_token = _logprobs(gen, 2 * B, L - 1)
    ref_logps = (_logprobs(gen, 2 * B, L - 1) * completion_mask[:, 1:]).sum(1)
    inputs = {"input_ids": ids, "attention_mask": attention_mask, "completion_mask": completion_mask,
              "ref_chosen_logps": ref_logps[:B], "ref_rejected_logps": ref_logps[B:]}
    trainer = _dpo_standin(beta, loss_type, label_smoothing)
    ref_loss = DPOTrainer._compute_loss(trainer, _logps_model(per_token), inputs, return_outputs=False)

    logps = (per_token * completion_mask[:, 1:]).sum(1)
    if loss_type == "ipo":  # trl's IPO averages over the completion tokens; our loss takes any log-probabilities
        n = completion_mask.sum(1)
        losses, _, _ = dpo_loss(logps[:B] / n[:B], logps[B:] / n[B:], ref_logps[:B] / n[:B], ref_logps[B:] / n[B:],
                                beta=beta, loss_type="ipo")
    else:
        losses, _, _ = dpo_loss(logps[:B], logps[B:], ref_logps[:B], ref_logps[B:], beta=beta, loss_type=loss_type,
                                label_smoothing=label_smoothing)
    _, chosen_rewards, rejected_rewards = dpo_loss(logps[:B], logps[B:], ref_logps[:B], ref_logps[B:], beta=beta)
    torch.testing.assert_close(losses.mean(), ref_loss, **TOL)
    m = _metrics(trainer)
    assert chosen_rewards.mean().item() == pytest.approx(m["rewards/chosen"], abs=1e-6)
    assert rejected_rewards.mean().item() == pytest.approx(m["rewards/rejected"], abs=1e-6)
    assert (chosen_rewards - rejected_rewards).mean().item() == pytest.approx(m["rewards/margins"], abs=1e-6)
    assert preference_accuracy(chosen_rewards, rejected_rewards).item() == pytest.approx(m["rewards/accuracies"])
    assert logps[:B].mean().item() == pytest.approx(m["logps/chosen"], abs=1e-5)


@pytest.mark.parametrize("label_smoothing", [0.05, 0.2, 0.45])
def test_conservative_dpo_is_the_expected_trl_sigmoid_loss_under_label_flips(label_smoothing):
    """With label smoothing eps our sigmoid loss is conservative DPO, -(1-eps) logsig(beta h) - eps logsig(-beta h),
    the form of earlier trl versions' DPOTrainer.dpo_loss. trl 1.16's sigmoid loss ignores label_smoothing, so the
    reference is its expectation under label flips: (1 - eps) trl(chosen, rejected) + eps trl(rejected, chosen)."""
    from trl import DPOTrainer

    gen = torch.Generator().manual_seed(0)
    B, L = 4, 8
    ids, attention_mask, completion_mask = _completion_batch(gen, 2 * B, L, 20)
    per_token = _logprobs(gen, 2 * B, L - 1)
    ref_logps = (_logprobs(gen, 2 * B, L - 1) * completion_mask[:, 1:]).sum(1)
    swap = torch.cat([torch.arange(B, 2 * B), torch.arange(B)])

    def trl_loss(order, r_chosen, r_rejected):
        inputs = {"input_ids": ids[order], "attention_mask": attention_mask[order],
                  "completion_mask": completion_mask[order], "ref_chosen_logps": r_chosen, "ref_rejected_logps": r_rejected}
        trainer = _dpo_standin(0.2, "sigmoid")
        return DPOTrainer._compute_loss(trainer, _logps_model(per_token[order]), inputs, return_outputs=False)

    forward = trl_loss(torch.arange(2 * B), ref_logps[:B], ref_logps[B:])
    flipped = trl_loss(swap, ref_logps[B:], ref_logps[:B])
    logps = (per_token * completion_mask[:, 1:]).sum(1)
    losses, _, _ = dpo_loss(logps[:B], logps[B:], ref_logps[:B], ref_logps[B:], beta=0.2,
                            label_smoothing=label_smoothing)
    torch.testing.assert_close(losses.mean(), (1 - label_smoothing) * forward + label_smoothing * flipped, **TOL)


@pytest.mark.parametrize("loss_type", ["sigmoid", "ipo"])
def test_dpo_on_tiny_gpt2_equals_trl_dpo_trainer_end_to_end(loss_type):
    """Policy and frozen reference are real models; trl runs them through its fused LM head."""
    from trl import DPOTrainer
    from trl.trainer.utils import add_fused_lm_head

    gen = torch.Generator().manual_seed(3)
    policy = _tiny_gpt2(0)
    reference = copy.deepcopy(policy)
    with torch.no_grad():  # make the policy differ from its reference
        for p in policy.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=gen))
    B = 4
    ids, attention_mask, completion_mask = _completion_batch(gen, 2 * B, 12, 17)
    with torch.no_grad():
        pi = sequence_logprobs(policy(input_ids=ids, attention_mask=attention_mask).logits, ids, completion_mask)
        ref = sequence_logprobs(reference(input_ids=ids, attention_mask=attention_mask).logits, ids, completion_mask)
        add_fused_lm_head(policy, outputs=("log_probs", "entropy", "mean_logits", "is_top1"))
        add_fused_lm_head(reference)
        trainer = _dpo_standin(0.1, loss_type, precompute_ref_logps=False, ref_model=reference, model=policy)
        inputs = {"input_ids": ids, "attention_mask": attention_mask, "completion_mask": completion_mask}
        ref_loss = DPOTrainer._compute_loss(trainer, policy, inputs, return_outputs=False)
    n = completion_mask.sum(1) if loss_type == "ipo" else torch.ones(2 * B)
    losses, chosen_rewards, _ = dpo_loss(pi[:B] / n[:B], pi[B:] / n[B:], ref[:B] / n[:B], ref[B:] / n[B:],
                                         beta=0.1, loss_type=loss_type)
    torch.testing.assert_close(losses.mean(), ref_loss, atol=1e-5, rtol=1e-5)
    m = _metrics(trainer)
    assert pi[:B].mean().item() == pytest.approx(m["logps/chosen"], abs=1e-4)
    if loss_type == "sigmoid":  # (for IPO we divided the log-probabilities by the lengths; trl's rewards do not)
        assert chosen_rewards.mean().item() == pytest.approx(m["rewards/chosen"], abs=1e-5)


def test_dpo_facts():
    """At the start (policy = reference) the DPO loss is ln 2; it equals Bradley-Terry on the implicit rewards."""
    gen = torch.Generator().manual_seed(0)
    logps = -5 * torch.rand(4, 6, generator=gen)
    losses, chosen, rejected = dpo_loss(logps[0], logps[1], logps[0], logps[1], beta=0.1)
    torch.testing.assert_close(losses, torch.full((6,), 0.6931472), **TOL)
    assert chosen.eq(0).all() and rejected.eq(0).all()
    losses, chosen, rejected = dpo_loss(logps[0], logps[1], logps[2], logps[3], beta=0.3)
    torch.testing.assert_close(losses.mean(), bradley_terry_loss(chosen, rejected), **TOL)
    assert not chosen.requires_grad
    # IPO is minimised exactly at h = 1 / (2 beta)
    h = torch.tensor([1 / (2 * 0.25)])
    assert dpo_loss(h, torch.zeros(1), torch.zeros(1), torch.zeros(1), beta=0.25, loss_type="ipo")[0].item() == 0


# ---------------------------------------------------------------- synthetic preferences

def test_synthetic_preferences_follow_the_hidden_rule():
    prompts, chosen, rejected = synthetic_preferences(500, 12, target_id=5, prompt_length=3, response_length=4,
                                                      first_id=2, generator=torch.Generator().manual_seed(0))
    assert prompts.shape == (500, 3) and chosen.shape == rejected.shape == (500, 4)
    assert ((chosen == 5).sum(1) > (rejected == 5).sum(1)).all()  # the chosen one always has more targets
    assert not (prompts == 5).any()
    for t in (prompts, chosen, rejected):
        assert t.min() >= 2 and t.max() < 12
    again = synthetic_preferences(500, 12, target_id=5, prompt_length=3, response_length=4, first_id=2,
                                  generator=torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip((prompts, chosen, rejected), again))


# ---------------------------------------------------------------- bad input is rejected, naming the argument

_x = torch.zeros(3)
_m = torch.ones(2, 4)
_lp = torch.zeros(2, 4)

BAD_INPUTS = [
    (bradley_terry_loss, (_x, torch.zeros(4)), {}, ValueError, "rejected_rewards"),
    (bradley_terry_loss, ([0.0, 1.0, 2.0], _x), {}, TypeError, "chosen_rewards"),
    (bradley_terry_loss, (torch.zeros(3, dtype=torch.long), _x), {}, TypeError, "chosen_rewards"),
    (bradley_terry_loss, (_x, _x), {"margin": torch.zeros(2)}, ValueError, "margin"),
    (bradley_terry_loss, (_x, _x), {"margin": "big"}, TypeError, "margin"),
    (bradley_terry_loss, (_x, _x), {"center_coefficient": -0.1}, ValueError, "center_coefficient"),
    (bradley_terry_loss, (torch.zeros(0), torch.zeros(0)), {}, ValueError, "chosen_rewards"),
    (preference_accuracy, (_x, torch.zeros(2)), {}, ValueError, "rejected_rewards"),
    (kl_estimate, (_lp, torch.zeros(2, 5)), {}, ValueError, "ref_logprobs"),
    (kl_estimate, (_lp, _lp), {"estimator": "k4"}, ValueError, "estimator"),
    (ppo_rewards, (torch.zeros(3), _lp, _lp, 0.1), {}, ValueError, "scores"),
    (ppo_rewards, (torch.zeros(2), _lp, _lp, -0.1), {}, ValueError, "beta"),
    (ppo_rewards, (torch.zeros(2), _lp, _lp, 0.1), {"mask": torch.tensor([[1, 0, 1, 0], [1, 1, 1, 1]])},
     ValueError, "mask"),
    (ppo_rewards, (torch.zeros(2), _lp, _lp, 0.1), {"mask": torch.zeros(2, 4)}, ValueError, "mask"),
    (ppo_rewards, (torch.zeros(2), _lp, _lp, 0.1), {"mask": torch.full((2, 4), 2)}, ValueError, "mask"),
    (ppo_rewards, (torch.zeros(2), _lp, _lp, 0.1), {"mask": torch.ones(2, 3)}, ValueError, "mask"),
    (gae, (_lp, torch.zeros(2, 3)), {}, ValueError, "values"),
    (gae, (torch.zeros(4), torch.zeros(4)), {}, ValueError, "rewards"),
    (gae, (_lp, _lp), {"gamma": 1.5}, ValueError, "gamma"),
    (gae, (_lp, _lp), {"lam": -0.1}, ValueError, "lam"),
    (gae, (_lp, _lp), {"lam": "0.9"}, TypeError, "lam"),
    (gae, (_lp, _lp), {"mask": _m.long().T}, ValueError, "mask"),
    (whiten, (torch.zeros(3),), {"mask": torch.tensor([True, False, False])}, ValueError, "mask"),
    (whiten, (torch.zeros(3, dtype=torch.long),), {}, TypeError, "values"),
    (ppo_policy_loss, (_lp, _lp, torch.zeros(2, 5)), {}, ValueError, "advantages"),
    (ppo_policy_loss, (_lp, _lp, _lp), {"clip_eps": 0.0}, ValueError, "clip_eps"),
    (ppo_policy_loss, (_lp, _lp, _lp), {"clip_eps": 1.0}, ValueError, "clip_eps"),
    (ppo_policy_loss, (_lp, _lp, _lp), {"clip_eps": float("nan")}, ValueError, "clip_eps"),
    (ppo_policy_loss, (_lp, _lp, _lp), {"mask": torch.ones(4, 2)}, ValueError, "mask"),
    (ppo_value_loss, (_lp, torch.zeros(4), _lp), {}, ValueError, "old_values"),
    (ppo_value_loss, (_lp, _lp, _lp), {"clip_range": 0}, ValueError, "clip_range"),
    (token_logprobs, (torch.zeros(2, 5), torch.zeros(2, 5, dtype=torch.long)), {}, ValueError, "logits"),
    (token_logprobs, (torch.zeros(2, 5, 7), torch.zeros(2, 4, dtype=torch.long)), {}, ValueError, "input_ids"),
    (token_logprobs, (torch.zeros(2, 5, 7), torch.zeros(2, 5)), {}, TypeError, "input_ids"),
    (token_logprobs, (torch.zeros(2, 5, 7), torch.full((2, 5), 7)), {}, ValueError, "input_ids"),
    (sequence_logprobs, (torch.zeros(2, 5, 7), torch.zeros(2, 5, dtype=torch.long), torch.ones(2, 4)), {},
     ValueError, "completion_mask"),
    (dpo_loss, (_x, _x, _x, torch.zeros(2)), {}, ValueError, "ref_rejected_logps"),
    (dpo_loss, (_x, _x, _x, _x), {"beta": 0.0}, ValueError, "beta"),
    (dpo_loss, (_x, _x, _x, _x), {"beta": -1.0}, ValueError, "beta"),
    (dpo_loss, (_x, _x, _x, _x), {"loss_type": "kto"}, ValueError, "loss_type"),
    (dpo_loss, (_x, _x, _x, _x), {"label_smoothing": 0.5}, ValueError, "label_smoothing"),
    (dpo_loss, (_x, _x, _x, _x), {"label_smoothing": 0.1, "loss_type": "ipo"}, ValueError, "label_smoothing"),
    (dpo_loss, (_x, _x, [0.0, 0.0, 0.0], _x), {}, TypeError, "ref_chosen_logps"),
    (synthetic_preferences, (0, 10, 3), {}, ValueError, "n_pairs"),
    (synthetic_preferences, (4, 10, 12), {}, ValueError, "target_id"),
    (synthetic_preferences, (4, 10, 3), {"target_probability": 1.0}, ValueError, "target_probability"),
    (synthetic_preferences, (4, 10, 3), {"first_id": 9}, ValueError, "first_id"),
    (synthetic_preferences, (4.0, 10, 3), {}, TypeError, "n_pairs"),
    (synthetic_preferences, (4, 10, 3), {"generator": 0}, TypeError, "generator"),
]


@pytest.mark.parametrize("fn,args,kwargs,error,argument", BAD_INPUTS,
                         ids=[f"{f.__name__}-{a}-{i}" for i, (f, _, _, _, a) in enumerate(BAD_INPUTS)])
def test_bad_input_is_rejected_naming_the_argument(fn, args, kwargs, error, argument):
    with pytest.raises(error, match=argument):
        fn(*args, **kwargs)
