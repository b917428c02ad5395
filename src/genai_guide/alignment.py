"""Learning from preferences: reward models, RLHF with PPO, and DPO, written to be read.

The chapter [Alignment: RLHF, DPO and AI feedback](../../adapting/alignment.md) explains them:

- **reward modelling**: `bradley_terry_loss` trains a scalar reward $r(x, y)$ on chosen/rejected
  pairs (the Bradley-Terry model, as in Christiano et al. 2017 and Ouyang et al. 2022); it equals
  the loss of trl's `RewardTrainer`;
- **RLHF with PPO**: `kl_estimate`, `ppo_rewards`, `gae`, `whiten`, `ppo_policy_loss` and
  `ppo_value_loss` are the pieces of one PPO update of a language model (Schulman et al. 2015 and
  2017, Ziegler et al. 2019, Stiennon et al. 2020), computed as trl's `PPOTrainer` computed them;
- **DPO**: `sequence_logprobs` scores a response under a model with the prompt masked out, and
  `dpo_loss` turns four such scores into the loss of Rafailov et al. (2023) or one of its variants
  (IPO, hinge, robust), equal to trl's `DPOTrainer`;
- `synthetic_preferences` makes preference pairs with a known hidden rule, so results can be checked.

Shapes: $B$ pairs or sequences, $T$ response tokens, $L$ tokens of prompt plus response, $V$ the
vocabulary. A mask holds 1 (or `True`) on the tokens that count and 0 on the others.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from genai_guide._checks import check_float_tensor

__all__ = [
    "DPO_LOSS_TYPES",
    "KL_ESTIMATORS",
    "bradley_terry_loss",
    "dpo_loss",
    "gae",
    "kl_estimate",
    "ppo_policy_loss",
    "ppo_rewards",
    "ppo_value_loss",
    "preference_accuracy",
    "sequence_logprobs",
    "synthetic_preferences",
    "token_logprobs",
    "whiten",
]

KL_ESTIMATORS = ("k1", "k2", "k3")  # per-token estimators of KL(pi || pi_ref), see `kl_estimate`
DPO_LOSS_TYPES = ("sigmoid", "hinge", "ipo", "robust")  # the names trl's DPOConfig.loss_type uses


# ---------------------------------------------------------------- input checks

def _check_same_shape(**tensors: Tensor) -> None:
    (first_name, first), *rest = tensors.items()
    for name, t in rest:
        if t.shape != first.shape:
            raise ValueError(f"{name} must have the shape of {first_name} {tuple(first.shape)}, got {tuple(t.shape)}")


def _check_real(name: str, x: object, *, low: float | None = None, high: float | None = None,
                low_open: bool = False, high_open: bool = False) -> float:
    """A finite real number inside [low, high] (or the open ends asked for), as a float."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise TypeError(f"{name} must be a float, got {type(x).__name__}")
    x = float(x)
    bad = not math.isfinite(x)
    if low is not None:
        bad |= x <= low if low_open else x < low
    if high is not None:
        bad |= x >= high if high_open else x > high
    if bad:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        interval = f"{left}{'-inf' if low is None else low}, {'inf' if high is None else high}{right}"
        raise ValueError(f"{name} must lie in {interval}, got {x}")
    return x


def _check_mask(name: str, mask: object, shape: torch.Size, *, right_padded: bool = False) -> Tensor:
    """A 0/1 (or bool) tensor of the given shape, returned as float."""
    if not isinstance(mask, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of 0/1 or bool, got {type(mask).__name__}")
    if mask.shape != shape:
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {tuple(mask.shape)}")
    m = mask.float()
    if not ((m == 0) | (m == 1)).all():
        raise ValueError(f"{name} must hold only 0 and 1 (or False and True)")
    if right_padded:
        if (m.sum(-1) == 0).any():
            raise ValueError(f"{name} must keep at least one token in every row")
        if (m[..., 1:] > m[..., :-1]).any():
            raise ValueError(f"{name} must be right-padded: 1s first, then only 0s in each row")
    return m


def _check_ids(name: str, ids: object, shape: torch.Size | None = None) -> Tensor:
    if not isinstance(ids, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of token ids, got {type(ids).__name__}")
    if ids.is_floating_point() or ids.is_complex() or ids.dtype == torch.bool:
        raise TypeError(f"{name} must have an integer dtype, got {ids.dtype}")
    if shape is not None and ids.shape != shape:
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {tuple(ids.shape)}")
    return ids


def _masked_mean(x: Tensor, mask: Tensor | None) -> Tensor:
    """Mean of x over the positions where mask is 1 (over all of x when mask is None)."""
    return x.mean() if mask is None else (x * mask).sum() / mask.sum()


# ---------------------------------------------------------------- reward modelling

def bradley_terry_loss(
    chosen_rewards: Tensor,
    rejected_rewards: Tensor,
    margin: Tensor | float | None = None,
    center_coefficient: float | None = None,
) -> Tensor:
    """The reward-model loss: the negative log-likelihood of the Bradley-Terry preference model.

    The Bradley-Terry model (Bradley and Terry 1952) says that a labeller prefers response $y_c$ to
    $y_r$ for the prompt $x$ with probability $\\sigma\\big(r(x, y_c) - r(x, y_r)\\big)$, where $r$ is
    a scalar reward and $\\sigma$ the logistic function. Fitting $r$ by maximum likelihood on $B$
    labelled pairs (Christiano et al. 2017; Stiennon et al. 2020; Ouyang et al. 2022, equation 1) means
    minimising

    $$\\mathcal{L}(r) = -\\frac{1}{B} \\sum_{i=1}^{B} \\log \\sigma\\big(r_{c,i} - r_{r,i} - m_i\\big)
      \\; + \\; \\lambda_c \\frac{1}{B} \\sum_{i=1}^{B} (r_{c,i} + r_{r,i})^2 ,$$

    where the optional margin $m_i \\ge 0$ asks the chosen response to win by at least that much
    (Llama 2, Touvron et al. 2023b, equation 2, with a larger margin for clearer preferences), and the
    optional centring term with coefficient $\\lambda_c$ keeps the rewards near zero (trl's
    `center_rewards_coefficient`). Only reward *differences* enter the first term, so a reward model
    is defined up to an additive constant.

    Args:
        chosen_rewards: `(B,)` (any shape) rewards $r(x, y_c)$ of the preferred responses.
        rejected_rewards: rewards $r(x, y_r)$ of the other responses, same shape.
        margin: a number, or a tensor of the rewards' shape, subtracted from each difference.
        center_coefficient: $\\lambda_c \\ge 0$, or None for no centring term.

    Returns:
        The scalar loss, equal to trl's `RewardTrainer.compute_loss` on the same rewards.

    Raises:
        TypeError: if a reward or the margin is not a floating-point tensor (or a number for the margin).
        ValueError: if shapes differ, or `center_coefficient` is negative.
    """
    check_float_tensor("chosen_rewards", chosen_rewards)
    check_float_tensor("rejected_rewards", rejected_rewards)
    _check_same_shape(chosen_rewards=chosen_rewards, rejected_rewards=rejected_rewards)
    if chosen_rewards.numel() == 0:
        raise ValueError("chosen_rewards must hold at least one pair")
    difference = chosen_rewards - rejected_rewards  # (B,) how much more the chosen response is rewarded
    if margin is not None:
        if isinstance(margin, Tensor):
            check_float_tensor("margin", margin)
            _check_same_shape(chosen_rewards=chosen_rewards, margin=margin)
        else:
            margin = _check_real("margin", margin)
        difference = difference - margin
    loss = -F.logsigmoid(difference).mean()  # -log P(chosen preferred) under Bradley-Terry
    if center_coefficient is not None:
        center_coefficient = _check_real("center_coefficient", center_coefficient, low=0.0)
        loss = loss + center_coefficient * ((chosen_rewards + rejected_rewards) ** 2).mean()
    return loss


def preference_accuracy(chosen_rewards: Tensor, rejected_rewards: Tensor) -> Tensor:
    """The fraction of pairs whose chosen response gets the strictly higher reward.

    Args:
        chosen_rewards: `(B,)` rewards of the preferred responses.
        rejected_rewards: `(B,)` rewards of the other responses.

    Returns:
        A scalar float tensor in [0, 1] (ties count as wrong, as in trl's `RewardTrainer`).

    Raises:
        TypeError: if an argument is not a floating-point tensor.
        ValueError: if the shapes differ or there are no pairs.
    """
    check_float_tensor("chosen_rewards", chosen_rewards)
    check_float_tensor("rejected_rewards", rejected_rewards)
    _check_same_shape(chosen_rewards=chosen_rewards, rejected_rewards=rejected_rewards)
    if chosen_rewards.numel() == 0:
        raise ValueError("chosen_rewards must hold at least one pair")
    return (chosen_rewards > rejected_rewards).float().mean()


# ---------------------------------------------------------------- RLHF with PPO

def kl_estimate(logprobs: Tensor, ref_logprobs: Tensor, estimator: str = "k1") -> Tensor:
    """Per-token estimates of $\\mathrm{KL}(\\pi \\,\\|\\, \\pi_{ref})$ from the sampled tokens' log-probabilities.

    For a token $y_t$ sampled from the policy $\\pi$, with $\\log u_t = \\log \\pi_{ref}(y_t) - \\log \\pi(y_t)$
    (the names of J. Schulman's note *Approximating KL divergence*, 2020):

    - `"k1"`: $-\\log u_t$, unbiased, but negative on some tokens and of high variance;
    - `"k2"`: $\\tfrac12 (\\log u_t)^2$, biased, low variance, never negative;
    - `"k3"`: $(u_t - 1) - \\log u_t$, unbiased, never negative, low variance.

    Their means over tokens sampled from $\\pi$ estimate
    $\\mathrm{KL}(\\pi \\| \\pi_{ref}) = \\mathbb{E}_{y \\sim \\pi}[\\log \\pi(y) - \\log \\pi_{ref}(y)]$
    (k2 only approximately). RLHF with PPO (Ziegler et al. 2019; trl's `PPOTrainer`) used k1 by
    default; trl's `GRPOTrainer` uses k3.

    Args:
        logprobs: `(B, T)` (any shape) $\\log \\pi(y_t)$ of the sampled tokens under the policy.
        ref_logprobs: $\\log \\pi_{ref}(y_t)$ under the frozen reference model, same shape.
        estimator: `"k1"`, `"k2"` or `"k3"`.

    Returns:
        The per-token estimates, shaped like `logprobs`.

    Raises:
        TypeError: if an input is not a floating-point tensor.
        ValueError: if the shapes differ or `estimator` is unknown.
    """
    check_float_tensor("logprobs", logprobs)
    check_float_tensor("ref_logprobs", ref_logprobs)
    _check_same_shape(logprobs=logprobs, ref_logprobs=ref_logprobs)
    if estimator not in KL_ESTIMATORS:
        raise ValueError(f"estimator must be one of {KL_ESTIMATORS}, got {estimator!r}")
    log_ratio = ref_logprobs - logprobs  # log u_t = log pi_ref(y_t) - log pi(y_t)
    if estimator == "k1":
        return -log_ratio
    if estimator == "k2":
        return 0.5 * log_ratio**2
    return (log_ratio.exp() - 1) - log_ratio


def ppo_rewards(
    scores: Tensor,
    logprobs: Tensor,
    ref_logprobs: Tensor,
    beta: float,
    mask: Tensor | None = None,
    estimator: str = "k1",
) -> Tensor:
    """Per-token rewards of RLHF: a KL penalty on every token plus the reward model's score at the end.

    RLHF maximises $\\mathbb{E}\\big[r_\\phi(x, y)\\big] - \\beta\\, \\mathrm{KL}(\\pi \\| \\pi_{ref})$
    (Ziegler et al. 2019; Stiennon et al. 2020; Ouyang et al. 2022, equation 2). PPO
    spreads this over the $T$ generated tokens:

    $$r_t = -\\beta\\, \\widehat{\\mathrm{KL}}_t \\; + \\; [t = T]\\; r_\\phi(x, y),$$

    a penalty for every token that drifts from the reference model ($\\widehat{\\mathrm{KL}}_t$ from
    `kl_estimate`), and the reward model's score of the whole response added on its last token.

    Args:
        scores: `(B,)` reward-model scores $r_\\phi(x, y)$ of the responses.
        logprobs: `(B, T)` log-probabilities of the response tokens under the policy.
        ref_logprobs: `(B, T)` the same under the reference model.
        beta: the KL coefficient $\\beta \\ge 0$ (trl's `kl_coef`).
        mask: `(B, T)` right-padded mask of the response tokens; None when every row is full length.
            The score goes on each row's last token; padded positions get reward 0.
        estimator: the KL estimator, see `kl_estimate`.

    Returns:
        `(B, T)` per-token rewards.

    Raises:
        TypeError: if an input has the wrong type.
        ValueError: if shapes disagree, `beta` is negative, or the mask is not right-padded 0/1.
    """
    kl = kl_estimate(logprobs, ref_logprobs, estimator)  # (B, T)
    check_float_tensor("scores", scores)
    if logprobs.dim() != 2:
        raise ValueError(f"logprobs must have shape (B, T), got {tuple(logprobs.shape)}")
    if scores.shape != logprobs.shape[:1]:
        raise ValueError(f"scores must have shape ({logprobs.shape[0]},), one per response, got {tuple(scores.shape)}")
    beta = _check_real("beta", beta, low=0.0)
    if mask is None:
        m = torch.ones_like(logprobs)
    else:
        m = _check_mask("mask", mask, logprobs.shape, right_padded=True).to(logprobs.dtype)
    rewards = -beta * kl * m  # (B, T) the KL penalty on every response token, 0 on padding
    last = (m.sum(-1) - 1).long()  # (B,) index of each response's last token
    rewards[torch.arange(len(scores)), last] += scores  # the reward model's score on the last token
    return rewards


def whiten(values: Tensor, mask: Tensor | None = None, shift_mean: bool = True) -> Tensor:
    """Normalise to mean 0 and variance 1 over the unmasked entries of the whole batch.

    $$\\hat{x} = \\frac{x - \\mu}{\\sqrt{s^2 + 10^{-8}}}, \\qquad
      \\mu = \\frac{1}{n}\\sum_{i \\in M} x_i, \\quad s^2 = \\frac{1}{n - 1} \\sum_{i \\in M} (x_i - \\mu)^2 ,$$

    with $M$ the $n$ unmasked positions (trl's `masked_whiten`). PPO for language models whitens the
    advantages of each batch, so the step size does not depend on the reward's scale. With
    `shift_mean=False` the mean is added back (only the scale changes), as trl does for rewards.

    Args:
        values: a floating-point tensor, e.g. `(B, T)` advantages.
        mask: 0/1 mask of the same shape, or None to use every entry.
        shift_mean: whether the result has mean 0 (True) or keeps the mean of `values` (False).

    Returns:
        The whitened values, 0 at masked-out positions.

    Raises:
        TypeError: if `values` is not a floating-point tensor.
        ValueError: if the mask has the wrong shape or fewer than 2 entries are unmasked.
    """
    check_float_tensor("values", values)
    m = torch.ones_like(values) if mask is None else _check_mask("mask", mask, values.shape).to(values.dtype)
    n = m.sum()
    if n < 2:
        raise ValueError(f"whiten needs at least 2 unmasked values, got {int(n)}; check the mask")
    mean = (values * m).sum() / n
    var = ((values - mean) ** 2 * m).sum() / (n - 1)  # unbiased (Bessel-corrected) variance
    out = (values - mean) * torch.rsqrt(var + 1e-8)
    if not shift_mean:
        out = out + mean
    return out * m


def gae(
    rewards: Tensor,
    values: Tensor,
    gamma: float = 1.0,
    lam: float = 0.95,
    mask: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Generalized advantage estimation (Schulman et al. 2015) over each response's tokens.

    With the temporal-difference residual $\\delta_t = r_t + \\gamma V_{t+1} - V_t$ and $V_{T+1} = 0$
    after the last token (the episode ends there), the advantage of token $t$ is the
    exponentially weighted sum of the residuals that follow it,

    $$\\hat{A}_t = \\sum_{l=0}^{T-t} (\\gamma\\lambda)^l\\, \\delta_{t+l}
      = \\delta_t + \\gamma\\lambda\\, \\hat{A}_{t+1}, \\qquad \\hat{R}_t = \\hat{A}_t + V_t ,$$

    and $\\hat{R}_t$ is the return the value head learns to predict. $\\lambda = 1$ gives the
    Monte-Carlo advantage $\\sum_l \\gamma^l r_{t+l} - V_t$ (no bias, high variance), $\\lambda = 0$ the
    one-step $\\delta_t$ (low variance, biased by $V$'s errors). trl's `PPOTrainer` defaulted to
    $\\gamma = 1$, $\\lambda = 0.95$.

    Args:
        rewards: `(B, T)` per-token rewards, e.g. from `ppo_rewards`.
        values: `(B, T)` value-head predictions $V_t$ for the state before each response token.
        gamma: discount $\\gamma \\in [0, 1]$.
        lam: GAE's $\\lambda \\in [0, 1]$.
        mask: `(B, T)` right-padded mask; each row ends after its last 1 (rewards and values beyond
            it are ignored). None when every row is full length.

    Returns:
        `(advantages, returns)`, both `(B, T)`, 0 at padded positions.

    Raises:
        TypeError: if an input is not a floating-point tensor or a number has the wrong type.
        ValueError: if shapes disagree, `gamma` or `lam` lies outside [0, 1], or the mask is not right-padded 0/1.
    """
    check_float_tensor("rewards", rewards)
    check_float_tensor("values", values)
    if rewards.dim() != 2:
        raise ValueError(f"rewards must have shape (B, T), got {tuple(rewards.shape)}")
    _check_same_shape(rewards=rewards, values=values)
    gamma = _check_real("gamma", gamma, low=0.0, high=1.0)
    lam = _check_real("lam", lam, low=0.0, high=1.0)
    if mask is not None:
        m = _check_mask("mask", mask, rewards.shape, right_padded=True).to(rewards.dtype)
        rewards, values = rewards * m, values * m  # nothing after a response's end
    T = rewards.shape[1]
    advantages = torch.zeros_like(rewards)
    next_advantage = torch.zeros_like(rewards[:, 0])  # A_{T+1} = 0
    for t in reversed(range(T)):
        next_value = values[:, t + 1] if t < T - 1 else torch.zeros_like(values[:, 0])  # V_{T+1} = 0
        delta = rewards[:, t] + gamma * next_value - values[:, t]  # (B,) TD residual
        next_advantage = delta + gamma * lam * next_advantage  # A_t = delta_t + gamma lam A_{t+1}
        advantages[:, t] = next_advantage
    return advantages, advantages + values


def ppo_policy_loss(
    logprobs: Tensor,
    old_logprobs: Tensor,
    advantages: Tensor,
    clip_eps: float = 0.2,
    mask: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """PPO's clipped surrogate objective (Schulman et al. 2017, equation 7), as a loss to minimise.

    With the probability ratio $\\rho_t = \\pi_\\theta(y_t) / \\pi_{old}(y_t)$ of each token under the
    policy being trained and the policy that sampled it,

    $$L^{CLIP} = -\\frac{1}{|M|} \\sum_{t \\in M}
      \\min\\big(\\rho_t \\hat{A}_t,\\; \\operatorname{clip}(\\rho_t, 1 - \\epsilon, 1 + \\epsilon)\\, \\hat{A}_t\\big).$$

    The minimum makes the objective a pessimistic bound: once a token's ratio has moved past
    $1 \\pm \\epsilon$ in the direction its advantage favours, the clipped term wins and that token
    stops contributing gradient, so several epochs over one batch cannot push the policy far.

    Args:
        logprobs: `(B, T)` (any shape) $\\log \\pi_\\theta(y_t)$ under the policy being trained.
        old_logprobs: $\\log \\pi_{old}(y_t)$ under the policy that generated the tokens, same shape.
        advantages: $\\hat{A}_t$, same shape (e.g. whitened output of `gae`).
        clip_eps: $\\epsilon \\in (0, 1)$; trl and the paper use 0.2.
        mask: 0/1 mask of the tokens to average over, or None for all.

    Returns:
        `(loss, clip_fraction)`: the scalar loss, and the fraction of tokens whose clipped term was the
        active one (trl's `policy/clipfrac`).

    Raises:
        TypeError: if an input is not a floating-point tensor.
        ValueError: if shapes differ, `clip_eps` lies outside (0, 1), or the mask is not 0/1.
    """
    for name, t in (("logprobs", logprobs), ("old_logprobs", old_logprobs), ("advantages", advantages)):
        check_float_tensor(name, t)
    _check_same_shape(logprobs=logprobs, old_logprobs=old_logprobs, advantages=advantages)
    clip_eps = _check_real("clip_eps", clip_eps, low=0.0, high=1.0, low_open=True, high_open=True)
    m = None if mask is None else _check_mask("mask", mask, logprobs.shape).to(logprobs.dtype)
    ratio = torch.exp(logprobs - old_logprobs)  # rho_t
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - clip_eps, 1.0 + clip_eps)
    loss = _masked_mean(torch.max(unclipped, clipped), m)  # max of the negatives = -min of the objectives
    clip_fraction = _masked_mean((clipped > unclipped).to(logprobs.dtype), m)
    return loss, clip_fraction


def ppo_value_loss(
    values: Tensor,
    old_values: Tensor,
    returns: Tensor,
    clip_range: float = 0.2,
    mask: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """The value head's loss with PPO's value clipping.

    The value head regresses the returns $\\hat{R}_t$ of `gae`. As with the policy, a new prediction
    is kept within $c$ of the one made when the batch was generated, and the worse of the clipped and
    unclipped errors is used:

    $$L^{V} = \\frac{1}{2|M|} \\sum_{t \\in M} \\max\\Big( (V_t - \\hat{R}_t)^2,\\;
      \\big(\\operatorname{clip}(V_t, V^{old}_t - c, V^{old}_t + c) - \\hat{R}_t\\big)^2 \\Big).$$

    This is the variant of OpenAI's PPO code (Baselines), which trl's `PPOTrainer` used; the PPO
    paper itself writes a plain squared error (Schulman et al. 2017, equation 9).

    Args:
        values: `(B, T)` (any shape) predictions $V_t$ of the value head being trained.
        old_values: $V^{old}_t$, predictions when the batch was generated, same shape.
        returns: $\\hat{R}_t$ from `gae`, same shape.
        clip_range: $c > 0$ (trl's `cliprange_value`, default 0.2).
        mask: 0/1 mask of the tokens to average over, or None for all.

    Returns:
        `(loss, clip_fraction)`: the scalar loss and the fraction of tokens where the clipped error
        was the larger one (trl's `val/clipfrac`).

    Raises:
        TypeError: if an input is not a floating-point tensor.
        ValueError: if shapes differ, `clip_range` is not positive, or the mask is not 0/1.
    """
    for name, t in (("values", values), ("old_values", old_values), ("returns", returns)):
        check_float_tensor(name, t)
    _check_same_shape(values=values, old_values=old_values, returns=returns)
    clip_range = _check_real("clip_range", clip_range, low=0.0, low_open=True)
    m = None if mask is None else _check_mask("mask", mask, values.shape).to(values.dtype)
    clipped_values = torch.clamp(values, old_values - clip_range, old_values + clip_range)
    unclipped_error = (values - returns) ** 2
    clipped_error = (clipped_values - returns) ** 2
    loss = 0.5 * _masked_mean(torch.max(unclipped_error, clipped_error), m)
    clip_fraction = _masked_mean((clipped_error > unclipped_error).to(values.dtype), m)
    return loss, clip_fraction


# ---------------------------------------------------------------- DPO

def token_logprobs(logits: Tensor, input_ids: Tensor) -> Tensor:
    """Log-probability of each next token: $\\log p_\\theta(t_{i+1} \\mid t_1..t_i)$ for $i = 1..L-1$.

    The logits at position $i$ score the token at position $i + 1$, so the logits lose their last
    position and the ids their first before the gather.

    Args:
        logits: `(B, L, V)` a causal language model's output.
        input_ids: `(B, L)` the token ids the model read.

    Returns:
        `(B, L - 1)` log-probabilities of tokens 2..L.

    Raises:
        TypeError: if `logits` is not floating point or `input_ids` not integer.
        ValueError: if the shapes do not fit or an id lies outside the vocabulary.
    """
    check_float_tensor("logits", logits)
    if logits.dim() != 3:
        raise ValueError(f"logits must have shape (B, L, V), got {tuple(logits.shape)}")
    _check_ids("input_ids", input_ids, logits.shape[:2])
    V = logits.shape[-1]
    if input_ids.numel() and (input_ids.min() < 0 or input_ids.max() >= V):
        raise ValueError(f"input_ids must lie in [0, {V}), got values from {input_ids.min().item()} to {input_ids.max().item()}")
    logp = F.log_softmax(logits[:, :-1], dim=-1)  # (B, L-1, V) predictions for positions 2..L
    targets = input_ids[:, 1:].long()  # (B, L-1) the tokens that actually came next
    return logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # (B, L-1)


def sequence_logprobs(logits: Tensor, input_ids: Tensor, completion_mask: Tensor) -> Tensor:
    """$\\log \\pi(y \\mid x) = \\sum_t \\log \\pi(y_t \\mid x, y_{<t})$: a response's log-probability given its prompt.

    The sequence is the prompt $x$ followed by the response $y$ (and perhaps padding); only the
    response tokens are scored, the prompt and padding are masked out. The first token of a sequence
    has no prediction and is never scored.

    Args:
        logits: `(B, L, V)` the model's logits on `input_ids`.
        input_ids: `(B, L)` prompt + response (+ padding) token ids.
        completion_mask: `(B, L)` 1 on response tokens, 0 on prompt and padding.

    Returns:
        `(B,)` summed log-probabilities of each response (trl's `DPOTrainer` sums the same way).

    Raises:
        TypeError: if an input has the wrong type.
        ValueError: if the shapes do not fit, an id is out of range, or the mask is not 0/1.
    """
    per_token = token_logprobs(logits, input_ids)  # (B, L-1)
    m = _check_mask("completion_mask", completion_mask, input_ids.shape).to(per_token.dtype)
    return (per_token * m[:, 1:]).sum(-1)  # (B,) position i of per_token predicts token i + 1


def dpo_loss(
    policy_chosen_logps: Tensor,
    policy_rejected_logps: Tensor,
    ref_chosen_logps: Tensor,
    ref_rejected_logps: Tensor,
    beta: float = 0.1,
    loss_type: str = "sigmoid",
    label_smoothing: float = 0.0,
) -> tuple[Tensor, Tensor, Tensor]:
    """Direct preference optimization (Rafailov et al. 2023) and three of its variants.

    DPO's implicit reward of a response is $\\hat{r}(x, y) = \\beta \\log \\frac{\\pi_\\theta(y|x)}{\\pi_{ref}(y|x)}$.
    With $h = \\log \\frac{\\pi_\\theta(y_c|x)}{\\pi_{ref}(y_c|x)} - \\log \\frac{\\pi_\\theta(y_r|x)}{\\pi_{ref}(y_r|x)}$
    the per-pair losses are

    - `"sigmoid"` (DPO, equation 7): $-\\log \\sigma(\\beta h)$, the Bradley-Terry loss on the
      implicit rewards. With label smoothing $\\varepsilon$ it becomes
      $-(1 - \\varepsilon) \\log \\sigma(\\beta h) - \\varepsilon \\log \\sigma(-\\beta h)$ (conservative
      DPO: the label is taken to be wrong with probability $\\varepsilon$);
    - `"robust"` (Chowdhury et al. 2024): $\\frac{-(1 - \\varepsilon)\\log \\sigma(\\beta h) + \\varepsilon \\log \\sigma(-\\beta h)}{1 - 2\\varepsilon}$,
      an unbiased correction for labels flipped with probability $\\varepsilon$;
    - `"hinge"` (SLiC): $\\max(0, 1 - \\beta h)$;
    - `"ipo"` (Azar et al. 2023, equation 17): $\\big(h - \\frac{1}{2\\beta}\\big)^2$, which regresses the
      margin to a finite target instead of pushing it to infinity. trl averages the log-probabilities
      over the response tokens for IPO: pass per-token means to match it.

    Args:
        policy_chosen_logps: `(B,)` $\\log \\pi_\\theta(y_c|x)$, e.g. from `sequence_logprobs`.
        policy_rejected_logps: `(B,)` $\\log \\pi_\\theta(y_r|x)$.
        ref_chosen_logps: `(B,)` $\\log \\pi_{ref}(y_c|x)$ under the frozen reference model.
        ref_rejected_logps: `(B,)` $\\log \\pi_{ref}(y_r|x)$.
        beta: $\\beta > 0$; smaller lets the policy move further from the reference (trl: 0.1).
        loss_type: one of `DPO_LOSS_TYPES`.
        label_smoothing: $\\varepsilon \\in [0, 0.5)$, for `"sigmoid"` and `"robust"` only.

    Returns:
        `(losses, chosen_rewards, rejected_rewards)`, each `(B,)`: the per-pair losses (average them
        for the batch loss) and the implicit rewards $\\beta \\log \\frac{\\pi_\\theta}{\\pi_{ref}}$ of
        both responses, detached; their difference is the reward margin.

    Raises:
        TypeError: if an input is not a floating-point tensor or a number has the wrong type.
        ValueError: if shapes differ, `beta` is not positive, `loss_type` is unknown, or
            `label_smoothing` is out of range or set for a loss that does not use it.
    """
    names = {"policy_chosen_logps": policy_chosen_logps, "policy_rejected_logps": policy_rejected_logps,
             "ref_chosen_logps": ref_chosen_logps, "ref_rejected_logps": ref_rejected_logps}
    for name, t in names.items():
        check_float_tensor(name, t)
    _check_same_shape(**names)
    beta = _check_real("beta", beta, low=0.0, low_open=True)
    if loss_type not in DPO_LOSS_TYPES:
        raise ValueError(f"loss_type must be one of {DPO_LOSS_TYPES}, got {loss_type!r}")
    label_smoothing = _check_real("label_smoothing", label_smoothing, low=0.0, high=0.5, high_open=True)
    if label_smoothing and loss_type not in ("sigmoid", "robust"):
        raise ValueError(f"label_smoothing applies to the 'sigmoid' and 'robust' losses, not {loss_type!r}")

    chosen_logratios = policy_chosen_logps - ref_chosen_logps  # log pi/pi_ref of y_c
    rejected_logratios = policy_rejected_logps - ref_rejected_logps  # log pi/pi_ref of y_r
    h = chosen_logratios - rejected_logratios  # (B,)
    eps = label_smoothing
    if loss_type == "sigmoid":
        losses = -(1 - eps) * F.logsigmoid(beta * h) - eps * F.logsigmoid(-beta * h)
    elif loss_type == "robust":
        losses = (-(1 - eps) * F.logsigmoid(beta * h) + eps * F.logsigmoid(-beta * h)) / (1 - 2 * eps)
    elif loss_type == "hinge":
        losses = torch.relu(1 - beta * h)
    else:  # "ipo"
        losses = (h - 1 / (2 * beta)) ** 2
    chosen_rewards = beta * chosen_logratios.detach()
    rejected_rewards = beta * rejected_logratios.detach()
    return losses, chosen_rewards, rejected_rewards


# ---------------------------------------------------------------- data with a known preference

def synthetic_preferences(
    n_pairs: int,
    vocab_size: int,
    target_id: int,
    prompt_length: int = 3,
    response_length: int = 4,
    first_id: int = 0,
    target_probability: float = 0.3,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Preference pairs labelled by a hidden rule: the response with more `target_id` tokens wins.

    Every prompt token is drawn uniformly from the ordinary ids `first_id..vocab_size-1` other than
    the target; every response token is the target with probability `target_probability` and an
    ordinary id otherwise. Of two responses to the same prompt, the one holding more targets is
    *chosen*; pairs with equal counts are drawn again. A model trained on these pairs is right when it
    rewards the target token, which makes alignment results checkable.

    Args:
        n_pairs: number of pairs $B$.
        vocab_size: ids lie below this.
        target_id: the preferred token, in `first_id..vocab_size-1`.
        prompt_length: tokens per prompt ($\\ge 1$).
        response_length: tokens per response ($\\ge 1$).
        first_id: ids below this are special (padding, separators) and never drawn.
        target_probability: chance that a response token is the target, in (0, 1).
        generator: random number generator, for reproducible data.

    Returns:
        `(prompts, chosen, rejected)`: `(B, prompt_length)` and twice `(B, response_length)` ids.

    Raises:
        TypeError: if an argument has the wrong type.
        ValueError: if a size or id is out of range.
    """
    for name, value in (("n_pairs", n_pairs), ("vocab_size", vocab_size), ("target_id", target_id),
                        ("prompt_length", prompt_length), ("response_length", response_length),
                        ("first_id", first_id)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    for name, value in (("n_pairs", n_pairs), ("prompt_length", prompt_length), ("response_length", response_length)):
        if value < 1:
            raise ValueError(f"{name} must be positive, got {value}")
    if not 0 <= first_id <= vocab_size - 2:
        raise ValueError(f"first_id must leave at least 2 ordinary ids below vocab_size={vocab_size}, got {first_id}")
    if not first_id <= target_id < vocab_size:
        raise ValueError(f"target_id must lie in [{first_id}, {vocab_size}), got {target_id}")
    p = _check_real("target_probability", target_probability, low=0.0, high=1.0, low_open=True, high_open=True)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")

    others = torch.tensor([i for i in range(first_id, vocab_size) if i != target_id])  # ordinary ids

    def draw(shape: tuple[int, ...], p_target: float) -> Tensor:
        ids = others[torch.randint(len(others), shape, generator=generator)]
        is_target = torch.rand(shape, generator=generator) < p_target
        return torch.where(is_target, torch.full(shape, target_id), ids)

    prompts = draw((n_pairs, prompt_length), 0.0)
    a, b = draw((n_pairs, response_length), p), draw((n_pairs, response_length), p)
    tie = (a == target_id).sum(-1) == (b == target_id).sum(-1)
    while tie.any():  # redraw the tied pairs until every pair has a winner
        k = int(tie.sum())
        a[tie], b[tie] = draw((k, response_length), p), draw((k, response_length), p)
        tie = (a == target_id).sum(-1) == (b == target_id).sum(-1)
    a_wins = ((a == target_id).sum(-1) > (b == target_id).sum(-1)).unsqueeze(-1)  # (B, 1)
    chosen, rejected = torch.where(a_wins, a, b), torch.where(a_wins, b, a)
    return prompts, chosen, rejected
