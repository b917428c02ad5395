"""A sparse mixture-of-experts layer, its load-balancing loss, and parameter counts, written to be read.

The chapter [Mixture of experts](../../architectures/mixture_of_experts.md) explains the ideas. The
layer follows Shazeer et al., *Outrageously Large Neural Networks: The Sparsely-Gated
Mixture-of-Experts Layer* (2017), in the form Mixtral uses (Jiang et al., *Mixtral of Experts*, 2024):
a linear router, top-k selection, a softmax over the kept logits and SwiGLU experts. It is tested
against `transformers.models.mixtral.modeling_mixtral.MixtralSparseMoeBlock`; the auxiliary loss
(Switch Transformer form, Fedus et al. 2021) against `load_balancing_loss_func` of the same module.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["SparseMoE", "load_balancing_loss", "moe_parameter_counts", "top_k_gating"]


def _check_positive_int(name: str, n: object) -> int:
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"{name} must be a positive int, got {n!r}")
    return n


def _check_logits(name: str, logits: object) -> Tensor:
    if not isinstance(logits, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(logits).__name__}")
    if not logits.is_floating_point():
        raise TypeError(f"{name} must have a floating dtype, got {logits.dtype}")
    if logits.dim() != 2:
        raise ValueError(f"{name} must have shape (tokens, num_experts), got {tuple(logits.shape)}")
    return logits


def top_k_gating(router_logits: Tensor, top_k: int) -> tuple[Tensor, Tensor]:
    """Keep the top-k router logits of each token and softmax over them (Mixtral's gate).

    $$G(x) = \\operatorname{Softmax}(\\operatorname{TopK}(x W_g, k))$$

    where TopK sets every logit outside the $k$ largest to $-\\infty$ (Jiang et al. 2024, eq. 2;
    Shazeer et al. 2017, eq. 3-5 without the noise). Taking the softmax over all experts and
    renormalizing the kept $k$ probabilities gives the same weights.

    Args:
        router_logits: `(tokens, num_experts)` scores from the router.
        top_k: experts kept per token, $1 \\le k \\le E$.

    Returns:
        `(weights, experts)`, both `(tokens, top_k)`: the gate weights (each row sums to 1) and the
        indices of the chosen experts, best first.

    Raises:
        TypeError: if `router_logits` is not a floating tensor.
        ValueError: if `router_logits` is not 2-D or `top_k` is not in `1..num_experts`.
    """
    router_logits = _check_logits("router_logits", router_logits)
    _check_positive_int("top_k", top_k)
    if top_k > router_logits.shape[-1]:
        raise ValueError(f"top_k must be at most num_experts={router_logits.shape[-1]}, got {top_k}")
    top_logits, experts = router_logits.float().topk(top_k, dim=-1)  # (T, k)
    return top_logits.softmax(dim=-1), experts


class SparseMoE(nn.Module):
    """Sparsely-gated mixture of SwiGLU experts (Shazeer et al. 2017; Mixtral, Jiang et al. 2024).

    $$y = \\sum_{i \\in \\operatorname{TopK}(x)} G(x)_i \\, E_i(x), \\qquad
    E_i(x) = W^{(i)}_{\\text{down}} \\big(\\operatorname{SiLU}(W^{(i)}_{\\text{gate}} x) \\odot W^{(i)}_{\\text{up}} x\\big)$$

    Each token runs through only `top_k` of the `num_experts` experts. With `capacity_factor` set, an
    expert processes at most $C = \\lceil \\text{capacity\\_factor} \\cdot T k / E \\rceil$ of the
    $T$ tokens in the batch (first come, first served); the assignments beyond $C$ are dropped and
    contribute zero, so a dropped token passes through the block's residual connection unchanged.

    Args:
        hidden_size: model width $d$.
        intermediate_size: width $d_{ff}$ of each expert's hidden layer.
        num_experts: number of experts $E$.
        top_k: experts per token $k$.
        capacity_factor: if given (> 0), enables expert capacity as above; `None` means no limit.

    Raises:
        ValueError: if a size is not a positive int, `top_k > num_experts`, or `capacity_factor <= 0`.
    """

    def __init__(self, hidden_size: int, intermediate_size: int, num_experts: int, top_k: int,
                 capacity_factor: float | None = None) -> None:
        super().__init__()
        for name, n in (("hidden_size", hidden_size), ("intermediate_size", intermediate_size),
                        ("num_experts", num_experts), ("top_k", top_k)):
            _check_positive_int(name, n)
        if top_k > num_experts:
            raise ValueError(f"top_k must be at most num_experts={num_experts}, got {top_k}")
        if capacity_factor is not None and not capacity_factor > 0:
            raise ValueError(f"capacity_factor must be positive or None, got {capacity_factor!r}")
        self.hidden_size, self.num_experts, self.top_k = hidden_size, num_experts, top_k
        self.capacity_factor = capacity_factor
        self.router = nn.Linear(hidden_size, num_experts, bias=False)  # W_g: (E, d)
        scale = hidden_size**-0.5
        self.w_gate = nn.Parameter(torch.randn(num_experts, intermediate_size, hidden_size) * scale)
        self.w_up = nn.Parameter(torch.randn(num_experts, intermediate_size, hidden_size) * scale)
        self.w_down = nn.Parameter(torch.randn(num_experts, hidden_size, intermediate_size) * intermediate_size**-0.5)

    def expert(self, i: int, x: Tensor) -> Tensor:
        """Expert `i` (a SwiGLU feed-forward network) on `x` of shape `(n, d)`."""
        return F.linear(F.silu(F.linear(x, self.w_gate[i])) * F.linear(x, self.w_up[i]), self.w_down[i])

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Route every token of `x` (`(..., d)`) to its top-k experts and mix their outputs.

        Returns:
            `(y, router_logits)`: `y` has the shape of `x`; `router_logits` is `(tokens, E)`, the
            input of `load_balancing_loss`.

        Raises:
            TypeError: if `x` is not a floating tensor.
            ValueError: if the last dimension of `x` is not `hidden_size`.
        """
        if not isinstance(x, Tensor) or not x.is_floating_point():
            raise TypeError(f"x must be a floating torch.Tensor, got {getattr(x, 'dtype', type(x).__name__)}")
        if x.dim() < 1 or x.shape[-1] != self.hidden_size:
            raise ValueError(f"x must have last dimension hidden_size={self.hidden_size}, got {tuple(x.shape)}")
        tokens = x.reshape(-1, self.hidden_size)  # (T, d)
        router_logits = self.router(tokens)  # (T, E)
        weights, experts = top_k_gating(router_logits, self.top_k)  # (T, k), (T, k)
        capacity = None
        if self.capacity_factor is not None:
            capacity = math.ceil(self.capacity_factor * tokens.shape[0] * self.top_k / self.num_experts)
        y = torch.zeros_like(tokens)
        for i in range(self.num_experts):
            token_idx, slot = torch.where(experts == i)  # tokens that chose expert i, in token order
            if capacity is not None:
                token_idx, slot = token_idx[:capacity], slot[:capacity]  # the rest are dropped
            if token_idx.numel():
                out = self.expert(i, tokens[token_idx]) * weights[token_idx, slot, None].to(tokens.dtype)
                y.index_add_(0, token_idx, out)
        return y.reshape(x.shape), router_logits

    @torch.no_grad()
    def load_mixtral(self, block: nn.Module) -> SparseMoE:
        """Copy the weights of a transformers `MixtralSparseMoeBlock` (transformers 5.x layout).

        transformers 5 stores all experts fused: `experts.gate_up_proj` is `(E, 2 d_ff, d)` with the
        gate rows first, `experts.down_proj` is `(E, d, d_ff)`; the router is `gate.weight`, `(E, d)`.
        """
        gate_up = block.experts.gate_up_proj
        if gate_up.shape != (self.num_experts, 2 * self.w_gate.shape[1], self.hidden_size):
            raise ValueError(f"block: experts.gate_up_proj has shape {tuple(gate_up.shape)}, expected "
                             f"{(self.num_experts, 2 * self.w_gate.shape[1], self.hidden_size)}")
        self.router.weight.copy_(block.gate.weight)
        gate, up = gate_up.chunk(2, dim=1)
        self.w_gate.copy_(gate)
        self.w_up.copy_(up)
        self.w_down.copy_(block.experts.down_proj)
        return self


def load_balancing_loss(router_logits: Tensor | Sequence[Tensor], top_k: int,
                        attention_mask: Tensor | None = None) -> Tensor:
    """Switch Transformer load-balancing loss (Fedus et al. 2021, eq. 4-6), with top-k routing.

    $$\\begin{gathered}
    \\mathcal{L}_{\\text{aux}} = E \\sum_{i=1}^{E} f_i \\, P_i, \\\\
    f_i = \\frac{1}{T} \\sum_{t} [\\, i \\in \\operatorname{TopK}(x_t) \\,], \\\\
    P_i = \\frac{1}{T} \\sum_t \\operatorname{softmax}(x_t W_g)_i
    \\end{gathered}$$

    $f_i$ is the fraction of tokens routed to expert $i$ (it sums to $k$ over the experts) and $P_i$
    the mean router probability of expert $i$. With uniform routing it equals $k$; it grows as the
    load concentrates. Per-layer logits are pooled as if they were one batch, as in transformers.

    Args:
        router_logits: `(tokens, E)` logits, or a sequence of them (one per layer).
        top_k: experts per token $k$.
        attention_mask: optional `(batch, seq)` mask with `batch * seq == tokens`; padding (0) is ignored.

    Returns:
        The scalar loss (float32).

    Raises:
        TypeError: if a logits entry is not a floating tensor.
        ValueError: on empty input, mismatched shapes or an invalid `top_k`.
    """
    layers = [router_logits] if isinstance(router_logits, Tensor) else list(router_logits)
    if not layers:
        raise ValueError("router_logits must not be empty")
    layers = [_check_logits("router_logits", t) for t in layers]
    num_experts = layers[0].shape[-1]
    if any(t.shape != layers[0].shape for t in layers):
        raise ValueError(f"router_logits: all layers must have the same shape, got {[tuple(t.shape) for t in layers]}")
    _check_positive_int("top_k", top_k)
    if top_k > num_experts:
        raise ValueError(f"top_k must be at most num_experts={num_experts}, got {top_k}")
    mask = torch.ones(layers[0].shape[0])
    if attention_mask is not None:
        if attention_mask.numel() != layers[0].shape[0]:
            raise ValueError(f"attention_mask has {attention_mask.numel()} entries, expected {layers[0].shape[0]}")
        mask = attention_mask.reshape(-1).float()
    probs = torch.cat([t.float().softmax(dim=-1) for t in layers])  # (L*T, E)
    mask = mask.to(probs.device).repeat(len(layers))  # (L*T,)
    chosen = F.one_hot(probs.topk(top_k, dim=-1).indices, num_experts).sum(dim=1).float()  # (L*T, E)
    f = (chosen * mask[:, None]).sum(0) / mask.sum()  # fraction of tokens sent to each expert
    p = (probs * mask[:, None]).sum(0) / mask.sum()  # mean router probability per expert
    return num_experts * (f * p).sum()


def moe_parameter_counts(*, vocab_size: int, hidden_size: int, intermediate_size: int, num_layers: int,
                         num_heads: int, num_kv_heads: int, num_experts: int, top_k: int,
                         tie_embeddings: bool = False) -> tuple[int, int]:
    """Total and active-per-token parameters of a Mixtral-style decoder.

    Per layer: attention $2d^2 + 2 d \\cdot d_{kv}$ with $d_{kv} = d \\cdot h_{kv} / h$ (grouped-query),
    a router $E d$, $E$ SwiGLU experts of $3 d\\, d_{ff}$ each and two RMSNorms of $d$; plus the token
    embedding and the LM head ($V d$ each unless tied) and a final norm. A token uses only $k$ experts,
    so the active count replaces $E$ by $k$ in the expert term.

    Returns:
        `(total, active)`.

    Raises:
        ValueError: if a size is not a positive int, `top_k > num_experts`, or heads do not divide.
    """
    sizes = {"vocab_size": vocab_size, "hidden_size": hidden_size, "intermediate_size": intermediate_size,
             "num_layers": num_layers, "num_heads": num_heads, "num_kv_heads": num_kv_heads,
             "num_experts": num_experts, "top_k": top_k}
    for name, n in sizes.items():
        _check_positive_int(name, n)
    if top_k > num_experts:
        raise ValueError(f"top_k must be at most num_experts={num_experts}, got {top_k}")
    if hidden_size % num_heads or num_heads % num_kv_heads:
        raise ValueError(f"num_heads must divide hidden_size and num_kv_heads must divide num_heads, got "
                         f"{hidden_size=}, {num_heads=}, {num_kv_heads=}")
    d, kv = hidden_size, hidden_size // num_heads * num_kv_heads
    expert = 3 * d * intermediate_size
    shared_layer = 2 * d * d + 2 * d * kv + num_experts * d + 2 * d  # attention, router, norms
    outside = vocab_size * d * (1 if tie_embeddings else 2) + d  # embeddings, head, final norm
    total = outside + num_layers * (shared_layer + num_experts * expert)
    active = outside + num_layers * (shared_layer + top_k * expert)
    return total, active
