"""The pieces of a transformer block, written to be read: activations, feed-forward networks,
normalization, residual connections, and a GPT-2 style pre-norm decoder block.

The chapter [The transformer block](../../architectures/transformer_block.md) explains them.

- `relu`, `gelu` (exact and tanh forms) and `silu`: the activation functions of the feed-forward network.
- `FeedForward`: the position-wise network of Vaswani et al. (2017), section 3.3, with ReLU or GELU.
- `SwiGLUFeedForward`: the gated variant of Shazeer (2020) with LLaMA's `gate_proj`/`up_proj`/`down_proj`.
- `LayerNorm` (Ba et al. 2016) and `RMSNorm` (Zhang and Sennrich 2019).
- `DecoderBlock`: causal self-attention and a feed-forward network, each wrapped in a residual
  connection (He et al. 2015), with the normalization before the sublayer (pre-norm, GPT-2) or
  after the residual sum (post-norm, the original Transformer).

The tests compare each piece with its reference: `torch.nn.functional.gelu`, `torch.nn.LayerNorm`,
`torch.nn.RMSNorm`, `transformers`' `LlamaRMSNorm` and `LlamaMLP`, `torch.nn.TransformerEncoderLayer`,
and `transformers`' `GPT2Block`, whose weights `DecoderBlock.from_gpt2_block` loads.
`transformers` is imported only inside that method, so importing this module stays fast.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from genai_guide.attention import MultiHeadAttention

if TYPE_CHECKING:  # pragma: no cover - only for type checkers
    from transformers.models.gpt2.modeling_gpt2 import GPT2Block

__all__ = [
    "ACTIVATIONS",
    "DecoderBlock",
    "FeedForward",
    "LayerNorm",
    "RMSNorm",
    "SwiGLUFeedForward",
    "gelu",
    "gpt2_block_parameter_count",
    "relu",
    "silu",
]


# ---- argument checks -----------------------------------------------------------------------------


def _check_tensor(name: str, x: object) -> Tensor:
    """Raise a clear error unless ``x`` is a floating-point tensor."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must have a floating dtype, got {x.dtype}")
    return x


def _check_features(name: str, x: object, size: int) -> Tensor:
    """A floating tensor whose last dimension is ``size``."""
    x = _check_tensor(name, x)
    if x.dim() < 1 or x.shape[-1] != size:
        raise ValueError(f"{name} must have shape (..., {size}), got {tuple(x.shape)}")
    return x


def _check_positive_int(name: str, n: object) -> int:
    if not isinstance(n, int) or isinstance(n, bool):
        raise TypeError(f"{name} must be an int, got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"{name} must be positive, got {n}")
    return n


def _check_eps(eps: object) -> float:
    if not isinstance(eps, (int, float)) or isinstance(eps, bool):
        raise TypeError(f"eps must be a float, got {type(eps).__name__}")
    if not eps > 0:
        raise ValueError(f"eps must be positive, got {eps}")
    return float(eps)


# ---- activation functions ------------------------------------------------------------------------


def relu(x: Tensor) -> Tensor:
    """The rectified linear unit, the activation of the original Transformer's feed-forward network.

    $$\\operatorname{ReLU}(x) = \\max(0, x)$$

    Args:
        x: a floating tensor of any shape.

    Returns:
        A tensor of the same shape.

    Raises:
        TypeError: if `x` is not a floating tensor.
    """
    _check_tensor("x", x)
    return x.clamp_min(0.0)


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """The Gaussian error linear unit (Hendrycks and Gimpel 2016).

    $$\\begin{aligned}
    \\operatorname{GELU}(x) &= x\\,\\Phi(x) = \\tfrac{1}{2}x\\left(1 + \\operatorname{erf}(x/\\sqrt{2})\\right) \\\\
    &\\approx \\tfrac{1}{2}x\\left(1 + \\tanh\\!\\left[\\sqrt{2/\\pi}\\,(x + 0.044715\\,x^3)\\right]\\right)
    \\end{aligned}$$

    $\\Phi$ is the standard normal CDF: each input is kept in proportion to how likely a standard
    normal variable is to lie below it. The tanh form is the approximation from the paper that
    GPT-2 uses (`transformers` calls it `gelu_new`; PyTorch `approximate="tanh"`).

    Args:
        x: a floating tensor of any shape.
        approximate: `"none"` for the exact erf form, `"tanh"` for the approximation.

    Returns:
        A tensor of the same shape.

    Raises:
        TypeError: if `x` is not a floating tensor.
        ValueError: if `approximate` is neither `"none"` nor `"tanh"`.
    """
    _check_tensor("x", x)
    if approximate == "none":
        return x * 0.5 * (1.0 + torch.erf(x * math.sqrt(0.5)))  # erf(x / sqrt 2)
    if approximate == "tanh":
        return x * 0.5 * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))
    raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")


def silu(x: Tensor) -> Tensor:
    """Swish with $\\beta = 1$, also called SiLU: the gate activation of SwiGLU.

    $$\\operatorname{SiLU}(x) = x\\,\\sigma(x) = \\frac{x}{1 + e^{-x}}$$

    Args:
        x: a floating tensor of any shape.

    Returns:
        A tensor of the same shape.

    Raises:
        TypeError: if `x` is not a floating tensor.
    """
    _check_tensor("x", x)
    return x * torch.sigmoid(x)


ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "relu": relu,
    "gelu": gelu,
    "gelu_tanh": lambda x: gelu(x, approximate="tanh"),
}
"""The activations a `FeedForward` can use, by name. `"gelu_tanh"` is GPT-2's."""


# ---- feed-forward networks -----------------------------------------------------------------------


class FeedForward(nn.Module):
    """The position-wise feed-forward network (Vaswani et al. 2017, section 3.3).

    $$\\begin{gathered}
    \\operatorname{FFN}(x) = f(x W_1 + b_1)\\, W_2 + b_2, \\\\
    f = \\operatorname{ReLU} \\text{ in the paper, } \\operatorname{GELU} \\text{ in GPT and BERT}
    \\end{gathered}$$

    The same two linear maps are applied to every position separately: attention mixes
    information *between* positions, this network transforms each position on its own. The
    inner layer is wider than the model, $d_{ff} = 4 d_{model}$ by default (2048 for 512 in the
    paper), so with biases it holds $2 d_{model} d_{ff} + d_{ff} + d_{model} = 8d^2 + 5d$ parameters.

    Args:
        d_model: width of each position's vector $d_{model}$.
        d_ff: width of the inner layer; defaults to `4 * d_model`.
        activation: a name in `ACTIVATIONS`: `"relu"`, `"gelu"` (exact) or `"gelu_tanh"` (GPT-2).
        bias: whether the two linear maps have biases.

    Raises:
        TypeError: if a size is not an int.
        ValueError: if a size is not positive or `activation` is unknown.
    """

    def __init__(self, d_model: int, d_ff: int | None = None, activation: str = "relu", bias: bool = True) -> None:
        super().__init__()
        _check_positive_int("d_model", d_model)
        d_ff = 4 * d_model if d_ff is None else _check_positive_int("d_ff", d_ff)
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        self.d_model, self.d_ff, self.activation = d_model, d_ff, activation
        self.w1 = nn.Linear(d_model, d_ff, bias=bias)  # W_1, b_1: widen to d_ff
        self.w2 = nn.Linear(d_ff, d_model, bias=bias)  # W_2, b_2: back to d_model

    def forward(self, x: Tensor) -> Tensor:
        """Apply the network to every position.

        Args:
            x: `(..., d_model)`.

        Returns:
            `(..., d_model)`.

        Raises:
            TypeError: if `x` is not a floating tensor.
            ValueError: if the last dimension of `x` is not `d_model`.
        """
        _check_features("x", x, self.d_model)
        return self.w2(ACTIVATIONS[self.activation](self.w1(x)))  # (..., d) -> (..., d_ff) -> (..., d)


class SwiGLUFeedForward(nn.Module):
    """The SwiGLU feed-forward network (Shazeer 2020), in the layout of LLaMA.

    $$\\operatorname{FFN}_{\\text{SwiGLU}}(x) = \\left(\\operatorname{SiLU}(x W_{gate}) \\odot x W_{up}\\right) W_{down}$$

    One projection, passed through SiLU, gates the other element by element. There are no biases
    and three matrices instead of two, so models shrink $d_{ff}$ by $2/3$ to keep the parameter
    count: $3 d_{model} d_{ff} = 8 d_{model}^2$ at $d_{ff} = \\tfrac{2}{3} \\cdot 4 d_{model}$. The
    names `gate_proj`, `up_proj`, `down_proj` are those of `transformers`' `LlamaMLP`, so its state
    dict loads as is.

    Args:
        d_model: width of each position's vector.
        d_ff: width of the gated inner layer (LLaMA's `intermediate_size`).

    Raises:
        TypeError: if a size is not an int.
        ValueError: if a size is not positive.
    """

    def __init__(self, d_model: int, d_ff: int) -> None:
        super().__init__()
        self.d_model = _check_positive_int("d_model", d_model)
        self.d_ff = _check_positive_int("d_ff", d_ff)
        self.gate_proj = nn.Linear(d_model, d_ff, bias=False)  # W_gate: goes through SiLU
        self.up_proj = nn.Linear(d_model, d_ff, bias=False)  # W_up: the gated value
        self.down_proj = nn.Linear(d_ff, d_model, bias=False)  # W_down: back to d_model

    def forward(self, x: Tensor) -> Tensor:
        """Apply the gated network to every position.

        Args:
            x: `(..., d_model)`.

        Returns:
            `(..., d_model)`.

        Raises:
            TypeError: if `x` is not a floating tensor.
            ValueError: if the last dimension of `x` is not `d_model`.
        """
        _check_features("x", x, self.d_model)
        return self.down_proj(silu(self.gate_proj(x)) * self.up_proj(x))  # (..., d_ff) gated, then (..., d)


# ---- normalization -------------------------------------------------------------------------------


class LayerNorm(nn.Module):
    """Layer normalization (Ba et al. 2016) over the last dimension.

    $$\\operatorname{LN}(x) = \\gamma \\odot \\frac{x - \\mu}{\\sqrt{\\sigma^2 + \\epsilon}} + \\beta,
    \\qquad \\mu = \\frac{1}{d}\\sum_i x_i, \\quad \\sigma^2 = \\frac{1}{d}\\sum_i (x_i - \\mu)^2$$

    Every position is normalized with its own mean and (biased) variance, so the result does not
    depend on the batch. Equal to `torch.nn.LayerNorm(d, eps)`.

    Args:
        d: number of features $d$ (the size of the last dimension).
        eps: the $\\epsilon$ added to the variance; PyTorch's and GPT-2's default is `1e-5`.

    Raises:
        TypeError: if `d` is not an int or `eps` not a number.
        ValueError: if `d` or `eps` is not positive.
    """

    def __init__(self, d: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.d, self.eps = _check_positive_int("d", d), _check_eps(eps)
        self.weight = nn.Parameter(torch.ones(d))  # gain gamma
        self.bias = nn.Parameter(torch.zeros(d))  # shift beta

    def forward(self, x: Tensor) -> Tensor:
        """Normalize each vector along the last dimension.

        Args:
            x: `(..., d)`.

        Returns:
            `(..., d)`.

        Raises:
            TypeError: if `x` is not a floating tensor.
            ValueError: if the last dimension of `x` is not `d`.
        """
        _check_features("x", x, self.d)
        mu = x.mean(dim=-1, keepdim=True)  # (..., 1)
        var = (x - mu).pow(2).mean(dim=-1, keepdim=True)  # (..., 1), biased: divide by d
        return (x - mu) * torch.rsqrt(var + self.eps) * self.weight + self.bias  # rsqrt(v) = 1 / sqrt(v)

    def extra_repr(self) -> str:
        return f"{self.d}, eps={self.eps}"


class RMSNorm(nn.Module):
    """Root mean square layer normalization (Zhang and Sennrich 2019) over the last dimension.

    $$\\operatorname{RMSNorm}(x) = g \\odot \\frac{x}{\\sqrt{\\frac{1}{d}\\sum_i x_i^2 + \\epsilon}}$$

    Layer normalization without the mean subtraction and without the bias: only the scale is
    normalized. Equal to `torch.nn.RMSNorm(d, eps)` and to `transformers`' `LlamaRMSNorm(d, eps)`,
    which computes in float32 whatever the input dtype, as this class does.

    Args:
        d: number of features $d$.
        eps: the $\\epsilon$ added to the mean square; LLaMA's default is `1e-6`.

    Raises:
        TypeError: if `d` is not an int or `eps` not a number.
        ValueError: if `d` or `eps` is not positive.
    """

    def __init__(self, d: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.d, self.eps = _check_positive_int("d", d), _check_eps(eps)
        self.weight = nn.Parameter(torch.ones(d))  # gain g

    def forward(self, x: Tensor) -> Tensor:
        """Rescale each vector along the last dimension to a root mean square of 1, then apply the gain.

        Args:
            x: `(..., d)`.

        Returns:
            `(..., d)`, in the dtype of `x`.

        Raises:
            TypeError: if `x` is not a floating tensor.
            ValueError: if the last dimension of `x` is not `d`.
        """
        _check_features("x", x, self.d)
        h = x.float()  # square in float32, as LLaMA does: float16 squares overflow above 256
        mean_square = h.pow(2).mean(dim=-1, keepdim=True)  # (..., 1)
        return self.weight * (h * torch.rsqrt(mean_square + self.eps)).to(x.dtype)  # x / RMS(x), then the gain

    def extra_repr(self) -> str:
        return f"{self.d}, eps={self.eps}"


# ---- the block -----------------------------------------------------------------------------------


def gpt2_block_parameter_count(d_model: int) -> int:
    """Parameters of one GPT-2 block of width $d$ with the default MLP width $4d$: $12d^2 + 13d$.

    Two layer norms ($2 \\times 2d$), the fused query/key/value projection ($3d^2 + 3d$), the
    attention output ($d^2 + d$), and the MLP ($4d^2 + 4d$ and $4d^2 + d$). GPT-2 small ($d = 768$)
    has 7,087,872 per block.

    Raises:
        TypeError: if `d_model` is not an int.
        ValueError: if `d_model` is not positive.
    """
    d = _check_positive_int("d_model", d_model)
    return 12 * d * d + 13 * d


class DecoderBlock(nn.Module):
    """A transformer decoder block: causal self-attention and a feed-forward network, each with a
    residual connection and a layer norm.

    Pre-norm (GPT-2, Radford et al. 2019, section 2.3; `norm_first=True`, the default):

    $$x \\leftarrow x + \\operatorname{Attn}(\\operatorname{LN}_1(x)), \\qquad
    x \\leftarrow x + \\operatorname{FFN}(\\operatorname{LN}_2(x))$$

    Post-norm (the original Transformer, Vaswani et al. 2017, section 3.1; `norm_first=False`):

    $$x \\leftarrow \\operatorname{LN}_1(x + \\operatorname{Attn}(x)), \\qquad
    x \\leftarrow \\operatorname{LN}_2(x + \\operatorname{FFN}(x))$$

    The attention is the book's `genai_guide.attention.MultiHeadAttention` with a causal mask, so
    position $i$ only reads positions $0..i$. The names follow GPT-2 (`ln_1`, `attn`, `ln_2`,
    `mlp`). With $d_{ff} = 4d$ and biases the block holds $12d^2 + 13d$ parameters
    (`gpt2_block_parameter_count`). Dropout is left out: compare with a reference in eval mode.

    Args:
        d_model: width of each position's vector $d$.
        n_heads: attention heads $h$; must divide `d_model`.
        d_ff: width of the feed-forward network; defaults to `4 * d_model`.
        activation: the feed-forward activation, `"gelu_tanh"` (GPT-2), `"gelu"` or `"relu"`.
        norm_first: pre-norm (`True`) or post-norm (`False`).
        eps: the layer norms' $\\epsilon$.

    Raises:
        TypeError: if a size is not an int or `eps` not a number.
        ValueError: if a size is not positive, `n_heads` does not divide `d_model`, or `activation`
            is unknown.
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        d_ff: int | None = None,
        *,
        activation: str = "gelu_tanh",
        norm_first: bool = True,
        eps: float = 1e-5,
    ) -> None:
        super().__init__()
        _check_positive_int("d_model", d_model)
        _check_positive_int("n_heads", n_heads)
        if d_model % n_heads:
            raise ValueError(f"n_heads ({n_heads}) must divide d_model ({d_model})")
        self.d_model, self.norm_first = d_model, bool(norm_first)
        self.ln_1 = LayerNorm(d_model, eps)
        self.attn = MultiHeadAttention(d_model, n_heads)
        self.ln_2 = LayerNorm(d_model, eps)
        self.mlp = FeedForward(d_model, d_ff, activation)

    def _attend(self, x: Tensor) -> Tensor:
        return self.attn(x, is_causal=True)[0]  # causal self-attention: (B, T, d)

    def forward(self, x: Tensor) -> Tensor:
        """Run the block on a batch of sequences.

        Args:
            x: `(batch, seq, d_model)`.

        Returns:
            `(batch, seq, d_model)`; position $i$ depends only on positions $0..i$ of `x`.

        Raises:
            TypeError: if `x` is not a floating tensor.
            ValueError: if `x` is not 3-D or its last dimension is not `d_model`.
        """
        _check_features("x", x, self.d_model)
        if x.dim() != 3:
            raise ValueError(f"x must have shape (batch, seq, {self.d_model}), got {tuple(x.shape)}")
        if self.norm_first:  # pre-norm: the residual path x -> x + ... passes through no norm
            x = x + self._attend(self.ln_1(x))
            return x + self.mlp(self.ln_2(x))
        x = self.ln_1(x + self._attend(x))  # post-norm: normalize after each residual sum
        return self.ln_2(x + self.mlp(x))

    @classmethod
    def from_torch(cls, layer: nn.TransformerEncoderLayer) -> DecoderBlock:
        """Build a `DecoderBlock` holding the weights of a `torch.nn.TransformerEncoderLayer`.

        PyTorch's layer is the same block (post-norm by default, pre-norm with `norm_first=True`);
        called with a causal mask it is a decoder block without cross-attention.

        Args:
            layer: a batch-first `TransformerEncoderLayer` with biases and the `"relu"` or `"gelu"`
                activation (PyTorch's `"gelu"` is the exact erf form).

        Returns:
            A `DecoderBlock` with the same `norm_first`, on the device and dtype of `layer`.

        Raises:
            TypeError: if `layer` is not a `torch.nn.TransformerEncoderLayer`.
            ValueError: if `layer` is not batch-first, has no biases, or uses another activation.
        """
        if not isinstance(layer, nn.TransformerEncoderLayer):
            raise TypeError(f"layer must be a torch.nn.TransformerEncoderLayer, got {type(layer).__name__}")
        if not layer.self_attn.batch_first:
            raise ValueError("layer must be built with batch_first=True")
        activation = {1: "relu", 2: "gelu"}.get(layer.activation_relu_or_gelu)
        if activation is None:
            raise ValueError("layer must use activation='relu' or activation='gelu'")
        if layer.linear1.bias is None or layer.norm1.bias is None:
            raise ValueError("layer must be built with bias=True")
        attn = MultiHeadAttention.from_torch(layer.self_attn)  # same weights, our attention
        ours = cls(attn.embed_dim, attn.num_heads, layer.linear1.out_features, activation=activation,
                   norm_first=layer.norm_first, eps=float(layer.norm1.eps))
        ours.attn = attn
        with torch.no_grad():
            for mine, theirs in ((ours.ln_1, layer.norm1), (ours.ln_2, layer.norm2)):
                mine.weight.copy_(theirs.weight)
                mine.bias.copy_(theirs.bias)
            for mine, theirs in ((ours.mlp.w1, layer.linear1), (ours.mlp.w2, layer.linear2)):
                mine.weight.copy_(theirs.weight)  # both nn.Linear: no transpose
                mine.bias.copy_(theirs.bias)
        return ours.to(device=layer.linear1.weight.device, dtype=layer.linear1.weight.dtype).train(layer.training)

    @classmethod
    def from_gpt2_block(cls, block: GPT2Block) -> DecoderBlock:
        """Build a pre-norm `DecoderBlock` holding the weights of a `transformers` `GPT2Block`.

        GPT-2 stores its projections as `Conv1D` modules, which compute $xW + b$ with `W` of shape
        `(in, out)`: the transpose of `nn.Linear`'s `(out, in)` weight. Its fused `c_attn` computes
        $[\\,Q \\mid K \\mid V\\,]$ in one `(d, 3d)` matrix, split here into the three projections.

        Args:
            block: a `GPT2Block` without cross-attention, with attention scaled by $1/\\sqrt{d_k}$
                and not by layer index, and with activation `gelu_new`, `gelu_pytorch_tanh`, `gelu`
                or `relu`.

        Returns:
            A `DecoderBlock` on the device and dtype of `block`. The `GPT2Block` itself is causal
            only when it gets a causal mask (or uses the `sdpa` attention, which then assumes one):
            compare the two in eval mode.

        Raises:
            TypeError: if `block` is not a `GPT2Block`.
            ValueError: if `block` uses an option this class does not implement.
        """
        from transformers.models.gpt2.modeling_gpt2 import GPT2Block

        if not isinstance(block, GPT2Block):
            raise TypeError(f"block must be a transformers GPT2Block, got {type(block).__name__}")
        cfg = block.attn.config
        activations = {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "gelu": "gelu", "relu": "relu"}
        unsupported = {
            "activation_function": cfg.activation_function not in activations,
            "add_cross_attention": hasattr(block, "crossattention"),
            "scale_attn_weights": not cfg.scale_attn_weights,
            "scale_attn_by_inverse_layer_idx": bool(cfg.scale_attn_by_inverse_layer_idx),
        }
        bad = [name for name, is_bad in unsupported.items() if is_bad]
        if bad:
            raise ValueError(f"block uses config options DecoderBlock does not implement: {', '.join(bad)}")
        d = block.attn.embed_dim
        ours = cls(d, block.attn.num_heads, block.mlp.c_fc.nf, activation=activations[cfg.activation_function],
                   eps=float(block.ln_1.eps))
        ours = ours.to(device=block.ln_1.weight.device, dtype=block.ln_1.weight.dtype)
        with torch.no_grad():
            for mine, theirs in ((ours.ln_1, block.ln_1), (ours.ln_2, block.ln_2)):
                mine.weight.copy_(theirs.weight)
                mine.bias.copy_(theirs.bias)
            w_qkv = block.attn.c_attn.weight.T  # Conv1D (d, 3d) -> Linear layout (3d, d)
            b_qkv = block.attn.c_attn.bias  # (3d,)
            for proj, w, b in zip((ours.attn.q_proj, ours.attn.k_proj, ours.attn.v_proj),
                                  w_qkv.split(d, dim=0), b_qkv.split(d)):
                proj.weight.copy_(w)  # (d, d): rows d*j .. d*(j+1) of the fused matrix
                proj.bias.copy_(b)
            ours.attn.out_proj.weight.copy_(block.attn.c_proj.weight.T)
            ours.attn.out_proj.bias.copy_(block.attn.c_proj.bias)
            ours.mlp.w1.weight.copy_(block.mlp.c_fc.weight.T)  # (d, d_ff) -> (d_ff, d)
            ours.mlp.w1.bias.copy_(block.mlp.c_fc.bias)
            ours.mlp.w2.weight.copy_(block.mlp.c_proj.weight.T)  # (d_ff, d) -> (d, d_ff)
            ours.mlp.w2.bias.copy_(block.mlp.c_proj.bias)
        return ours.train(block.training)
