"""A small GPT: a decoder-only transformer language model, written to be read.

The chapter [A GPT from scratch](../../architectures/gpt_from_scratch.md) explains the model. It
follows GPT-2 (Radford et al., *Language Models are Unsupervised Multitask Learners*, 2019), which is
the decoder of Vaswani et al. (2017) without cross-attention, as in the first GPT (Radford et al.
2018), with the layer norm moved to the input of each sublayer (pre-norm) and one more after the last
block:

- learned token embeddings plus learned position embeddings;
- `n_layers` blocks, each $x \\leftarrow x + \\operatorname{Attn}(\\operatorname{LN}(x))$, then
  $x \\leftarrow x + \\operatorname{MLP}(\\operatorname{LN}(x))$, with causal multi-head
  self-attention and a two-layer MLP with the tanh approximation of GELU;
- a final layer norm, and an output head that reuses the token embedding matrix (weight tying).

Its weights map one to one onto Hugging Face's `transformers.GPT2LMHeadModel`
(`GPT.to_gpt2` and `GPT.from_gpt2`), and the tests check that both give the same logits.
`transformers` is imported only by those two methods, so importing this module stays fast.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

if TYPE_CHECKING:  # pragma: no cover - only for type checkers
    from transformers import GPT2Config, GPT2LMHeadModel

__all__ = ["GPT", "GPTConfig", "generate_greedy"]


@dataclass(frozen=True)
class GPTConfig:
    """The sizes of a GPT. The defaults are tiny: a model that trains on a CPU in seconds.

    GPT-2 small is `GPTConfig(vocab_size=50257, context_length=1024, d_model=768, n_layers=12,
    n_heads=12)`, about 124 million parameters.

    Attributes:
        vocab_size: number of token ids $V$.
        context_length: the most tokens the model can read at once ($T_{max}$, GPT-2's `n_positions`).
        d_model: width of every token's vector ($d$, GPT-2's `n_embd`).
        n_layers: number of transformer blocks ($N$).
        n_heads: attention heads per block ($h$); must divide `d_model`.
        layer_norm_eps: the $\\epsilon$ added to the variance inside each layer norm.

    Raises:
        TypeError: if a size is not an int or `layer_norm_eps` is not a number.
        ValueError: if a size is not positive, `n_heads` does not divide `d_model`, or
            `layer_norm_eps` is not positive.
    """

    vocab_size: int
    context_length: int = 64
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    layer_norm_eps: float = 1e-5

    def __post_init__(self) -> None:
        for name in ("vocab_size", "context_length", "d_model", "n_layers", "n_heads"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"{name} must be an int, got {type(value).__name__}")
            if value < 1:
                raise ValueError(f"{name} must be positive, got {value}")
        if self.d_model % self.n_heads:
            raise ValueError(f"n_heads ({self.n_heads}) must divide d_model ({self.d_model})")
        eps = self.layer_norm_eps
        if not isinstance(eps, (int, float)) or isinstance(eps, bool):
            raise TypeError(f"layer_norm_eps must be a float, got {type(eps).__name__}")
        if not eps > 0:
            raise ValueError(f"layer_norm_eps must be positive, got {eps}")

    @property
    def d_ff(self) -> int:
        """Width of the MLP's hidden layer: $4d$, as in GPT and GPT-2."""
        return 4 * self.d_model


class MLP(nn.Module):
    """The position-wise feed-forward network of a block (GPT-2's `mlp`).

    $$\\begin{gathered}
    \\operatorname{MLP}(x) = \\operatorname{GELU}(x W_1 + b_1)\\, W_2 + b_2, \\\\
    \\operatorname{GELU}(u) \\approx \\tfrac{1}{2} u \\left(1 + \\tanh\\!\\left[\\sqrt{2/\\pi}\\,(u + 0.044715\\,u^3)\\right]\\right)
    \\end{gathered}$$

    GPT-2 uses this tanh approximation of GELU (Hendrycks and Gimpel 2016); `transformers` calls it
    `gelu_new`.
    """

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.fc = nn.Linear(d_model, 4 * d_model)  # W_1: widen to 4d (GPT-2: c_fc)
        self.proj = nn.Linear(4 * d_model, d_model)  # W_2: back to d (GPT-2: c_proj)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(F.gelu(self.fc(x), approximate="tanh"))  # (..., d) -> (..., 4d) -> (..., d)


class CausalSelfAttention(nn.Module):
    """Causal multi-head self-attention (GPT-2's `attn`; Vaswani et al. 2017, section 3.2.2).

    $$\\operatorname{head}_j = \\operatorname{softmax}\\!\\left(\\frac{Q_j K_j^\\top}{\\sqrt{d_k}} + M\\right) V_j,
    \\qquad M_{ik} = \\begin{cases} 0 & k \\le i \\\\ -\\infty & k > i \\end{cases}$$

    One linear map computes the queries, keys and values of all heads at once (GPT-2's fused
    `c_attn`), the $h$ heads of size $d_k = d/h$ attend in parallel, and `proj` ($W^O$) mixes the
    concatenated heads. The attention itself is PyTorch's fused
    `scaled_dot_product_attention`, which the [Attention](../../architectures/attention.md) chapter
    shows equal to the book's `genai_guide.attention.scaled_dot_product_attention`.
    """

    def __init__(self, d_model: int, n_heads: int) -> None:
        super().__init__()
        self.n_heads, self.head_dim = n_heads, d_model // n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)  # [W^Q | W^K | W^V] for all heads (GPT-2: c_attn)
        self.proj = nn.Linear(d_model, d_model)  # W^O (GPT-2: c_proj)

    def forward(self, x: Tensor) -> Tensor:
        B, T, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=-1)  # three (B, T, d)
        q, k, v = (t.view(B, T, self.n_heads, self.head_dim).transpose(1, 2) for t in (q, k, v))  # (B, h, T, d_k)
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, h, T, d_k)
        out = out.transpose(1, 2).reshape(B, T, d)  # concatenate the heads: (B, T, d)
        return self.proj(out)


class Block(nn.Module):
    """One pre-norm transformer decoder block (GPT-2's `h[i]`).

    $$x \\leftarrow x + \\operatorname{CausalSelfAttention}(\\operatorname{LN}_1(x)),
    \\qquad x \\leftarrow x + \\operatorname{MLP}(\\operatorname{LN}_2(x))$$

    Position $i$ mixes information only from the positions $0..i$, so the output at $i$ can be
    trained to predict token $i + 1$ without seeing it.
    """

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self.attn = CausalSelfAttention(config.d_model, config.n_heads)
        self.ln_2 = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self.mlp = MLP(config.d_model)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.ln_1(x))  # residual around causal self-attention
        return x + self.mlp(self.ln_2(x))  # residual around the MLP


class GPT(nn.Module):
    """A decoder-only transformer language model in the layout of GPT-2 (Radford et al. 2019).

    For token ids $t_1..t_T$:

    $$h^{(0)}_i = E[t_i] + P[i], \\qquad h^{(\\ell)} = \\operatorname{Block}_\\ell(h^{(\\ell-1)}),
    \\qquad \\text{logits}_i = \\operatorname{LN}_f(h^{(N)}_i)\\, E^\\top,$$

    where $E \\in \\mathbb{R}^{V \\times d}$ is the token embedding, $P \\in \\mathbb{R}^{T_{max} \\times d}$
    the learned position embedding, and the output head reuses $E$ (weight tying). The logits at
    position $i$ score every candidate for token $t_{i+1}$.

    Weights start as in GPT-2: normal with standard deviation 0.02, biases zero, and the two
    projections that write into the residual stream scaled down by $1/\\sqrt{2N}$ (section 2.3 of
    the paper), so the stream's variance does not grow with depth.

    Args:
        config: the model's sizes.

    Raises:
        TypeError: if `config` is not a `GPTConfig`.
    """

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        if not isinstance(config, GPTConfig):
            raise TypeError(f"config must be a GPTConfig, got {type(config).__name__}")
        self.config = config
        self.tok_emb = nn.Embedding(config.vocab_size, config.d_model)  # E (GPT-2: wte)
        self.pos_emb = nn.Embedding(config.context_length, config.d_model)  # P (GPT-2: wpe)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layers))  # (GPT-2: h)
        self.ln_f = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self._init_weights()

    def _init_weights(self) -> None:
        residual_std = 0.02 / math.sqrt(2 * self.config.n_layers)
        for name, p in self.named_parameters():
            if name.endswith(("attn.proj.weight", "mlp.proj.weight")):
                nn.init.normal_(p, mean=0.0, std=residual_std)
            elif name.endswith("bias"):
                nn.init.zeros_(p)
            elif p.dim() >= 2:  # embeddings and the other linear layers; layer norms keep weight 1
                nn.init.normal_(p, mean=0.0, std=0.02)

    def _check_ids(self, name: str, ids: object, *, any_length: bool = False) -> Tensor:
        if not isinstance(ids, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor of token ids, got {type(ids).__name__}")
        if ids.dtype not in (torch.int64, torch.int32):
            raise TypeError(f"{name} must have dtype torch.long (or torch.int32), got {ids.dtype}")
        if ids.dim() != 2 or ids.shape[1] < 1:
            raise ValueError(f"{name} must have shape (batch, seq) with seq >= 1, got {tuple(ids.shape)}")
        if ids.shape[1] > self.config.context_length and not any_length:
            raise ValueError(
                f"{name} has {ids.shape[1]} positions, more than context_length={self.config.context_length}"
            )
        if ids.numel() and (ids.min() < 0 or ids.max() >= self.config.vocab_size):
            raise ValueError(
                f"{name} must lie in [0, {self.config.vocab_size}), got values from {ids.min().item()} to {ids.max().item()}"
            )
        return ids

    def forward(self, ids: Tensor) -> Tensor:
        """Logits for the next token at every position.

        Args:
            ids: `(batch, seq)` integer token ids, `seq <= context_length`.

        Returns:
            `(batch, seq, vocab_size)` logits; row `i` scores the token that follows position `i`.

        Raises:
            TypeError: if `ids` is not an integer tensor.
            ValueError: if `ids` is not 2-D, is longer than the context, or holds an id outside the vocabulary.
        """
        self._check_ids("ids", ids)
        positions = torch.arange(ids.shape[1], device=ids.device)  # (T,)
        x = self.tok_emb(ids) + self.pos_emb(positions)  # (B, T, d): what each token is, and where
        for block in self.blocks:
            x = block(x)  # (B, T, d)
        x = self.ln_f(x)  # (B, T, d)
        return x @ self.tok_emb.weight.T  # (B, T, V): the tied output head

    # ---- the bridge to Hugging Face transformers -----------------------------------------------

    def gpt2_config(self) -> GPT2Config:
        """The `transformers.GPT2Config` with this model's sizes (dropout off, no special tokens).

        A character vocabulary has no end-of-text token, so `bos_token_id` and `eos_token_id` are
        `None` instead of GPT-2's 50256, which would lie outside a small vocabulary.
        """
        from transformers import GPT2Config

        c = self.config
        return GPT2Config(
            vocab_size=c.vocab_size, n_positions=c.context_length, n_embd=c.d_model,
            n_layer=c.n_layers, n_head=c.n_heads, n_inner=None, activation_function="gelu_new",
            layer_norm_epsilon=c.layer_norm_eps, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
            tie_word_embeddings=True, bos_token_id=None, eos_token_id=None,
        )

    def gpt2_state_dict(self) -> dict[str, Tensor]:
        """This model's weights under `GPT2LMHeadModel`'s names and layouts.

        GPT-2 stores its projections as `Conv1D` modules that compute $x W + b$ with `W` of shape
        `(in, out)`: the transpose of `nn.Linear`'s `(out, in)` weight, which computes $x W^\\top + b$.
        Both models compute queries, keys and values with one fused projection whose outputs are
        $[\\,Q \\mid K \\mid V\\,]$, split into heads the same way, so only the transposes differ.
        """
        sd: dict[str, Tensor] = {
            "transformer.wte.weight": self.tok_emb.weight,
            "transformer.wpe.weight": self.pos_emb.weight,
        }
        for i, block in enumerate(self.blocks):
            p, attn = f"transformer.h.{i}.", block.attn
            sd[p + "ln_1.weight"], sd[p + "ln_1.bias"] = block.ln_1.weight, block.ln_1.bias
            sd[p + "attn.c_attn.weight"], sd[p + "attn.c_attn.bias"] = attn.qkv.weight.T, attn.qkv.bias  # (d, 3d)
            sd[p + "attn.c_proj.weight"], sd[p + "attn.c_proj.bias"] = attn.proj.weight.T, attn.proj.bias
            sd[p + "ln_2.weight"], sd[p + "ln_2.bias"] = block.ln_2.weight, block.ln_2.bias
            sd[p + "mlp.c_fc.weight"], sd[p + "mlp.c_fc.bias"] = block.mlp.fc.weight.T, block.mlp.fc.bias
            sd[p + "mlp.c_proj.weight"], sd[p + "mlp.c_proj.bias"] = block.mlp.proj.weight.T, block.mlp.proj.bias
        sd["transformer.ln_f.weight"], sd["transformer.ln_f.bias"] = self.ln_f.weight, self.ln_f.bias
        sd["lm_head.weight"] = self.tok_emb.weight  # tied: the same matrix as wte
        return {name: t.detach().clone().contiguous() for name, t in sd.items()}

    def to_gpt2(self) -> GPT2LMHeadModel:
        """A `transformers.GPT2LMHeadModel` with the same weights, device and dtype, in eval mode."""
        from transformers import GPT2LMHeadModel

        weight = self.tok_emb.weight
        model = GPT2LMHeadModel(self.gpt2_config()).to(device=weight.device, dtype=weight.dtype)
        model.load_state_dict(self.gpt2_state_dict(), strict=True)
        return model.eval()

    @classmethod
    def from_gpt2(cls, model: GPT2LMHeadModel) -> GPT:
        """Build a `GPT` holding the weights of a `transformers.GPT2LMHeadModel`.

        Args:
            model: a GPT-2 language model with tied embeddings, the tanh GELU, the default MLP width
                $4d$ and the default attention scaling $1/\\sqrt{d_k}$.

        Returns:
            A `GPT` in the same training/eval mode as `model`, on its device and dtype. Dropout is
            not part of this model: compare the two in eval mode.

        Raises:
            TypeError: if `model` is not a `GPT2LMHeadModel`.
            ValueError: if `model` uses a GPT-2 option this model does not have.
        """
        from transformers import GPT2LMHeadModel

        if not isinstance(model, GPT2LMHeadModel):
            raise TypeError(f"model must be a transformers GPT2LMHeadModel, got {type(model).__name__}")
        hf = model.config
        unsupported = {
            "activation_function": hf.activation_function not in ("gelu_new", "gelu_pytorch_tanh"),
            "n_inner": hf.n_inner not in (None, 4 * hf.n_embd),
            "add_cross_attention": bool(hf.add_cross_attention),
            "scale_attn_weights": not hf.scale_attn_weights,
            "scale_attn_by_inverse_layer_idx": bool(hf.scale_attn_by_inverse_layer_idx),
            "tie_word_embeddings": not hf.tie_word_embeddings,
        }
        bad = [name for name, is_bad in unsupported.items() if is_bad]
        if bad:
            raise ValueError(f"model uses config options GPT does not implement: {', '.join(bad)}")
        gpt = cls(GPTConfig(vocab_size=hf.vocab_size, context_length=hf.n_positions, d_model=hf.n_embd,
                            n_layers=hf.n_layer, n_heads=hf.n_head, layer_norm_eps=float(hf.layer_norm_epsilon)))
        sd = model.state_dict()
        ours: dict[str, Tensor] = {
            "tok_emb.weight": sd["transformer.wte.weight"],
            "pos_emb.weight": sd["transformer.wpe.weight"],
            "ln_f.weight": sd["transformer.ln_f.weight"],
            "ln_f.bias": sd["transformer.ln_f.bias"],
        }
        for i in range(hf.n_layer):
            p, q = f"transformer.h.{i}.", f"blocks.{i}."
            for ln in ("ln_1", "ln_2"):
                ours[f"{q}{ln}.weight"], ours[f"{q}{ln}.bias"] = sd[f"{p}{ln}.weight"], sd[f"{p}{ln}.bias"]
            ours[q + "attn.qkv.weight"] = sd[p + "attn.c_attn.weight"].T  # Conv1D (d, 3d) -> Linear (3d, d)
            ours[q + "attn.qkv.bias"] = sd[p + "attn.c_attn.bias"]
            ours[q + "attn.proj.weight"] = sd[p + "attn.c_proj.weight"].T
            ours[q + "attn.proj.bias"] = sd[p + "attn.c_proj.bias"]
            ours[q + "mlp.fc.weight"], ours[q + "mlp.fc.bias"] = sd[p + "mlp.c_fc.weight"].T, sd[p + "mlp.c_fc.bias"]
            ours[q + "mlp.proj.weight"] = sd[p + "mlp.c_proj.weight"].T
            ours[q + "mlp.proj.bias"] = sd[p + "mlp.c_proj.bias"]
        weight = sd["transformer.wte.weight"]
        gpt = gpt.to(device=weight.device, dtype=weight.dtype)
        gpt.load_state_dict({name: t.contiguous() for name, t in ours.items()}, strict=True)
        return gpt.train(model.training)


@torch.no_grad()
def generate_greedy(model: GPT, ids: Tensor, max_new_tokens: int) -> Tensor:
    """Extend `ids` by repeatedly appending the most likely next token (greedy decoding).

    $$t_{T+1} = \\arg\\max_{v} \\, \\text{logits}_T[v]$$

    Only the last `context_length` tokens are fed to the model at each step. The model is run in
    eval mode and put back in its previous mode afterwards.

    Args:
        model: a `GPT`.
        ids: `(batch, seq)` prompt token ids.
        max_new_tokens: how many tokens to append (0 returns a copy of `ids`).

    Returns:
        `(batch, seq + max_new_tokens)` token ids, the prompt first.

    Raises:
        TypeError: if `model` is not a `GPT`, `ids` is not an integer tensor, or `max_new_tokens` is not an int.
        ValueError: if `max_new_tokens` is negative or `ids` is not a valid prompt for `model`.
    """
    if not isinstance(model, GPT):
        raise TypeError(f"model must be a GPT, got {type(model).__name__}")
    if not isinstance(max_new_tokens, int) or isinstance(max_new_tokens, bool):
        raise TypeError(f"max_new_tokens must be an int, got {type(max_new_tokens).__name__}")
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
    model._check_ids("ids", ids, any_length=True)  # a prompt longer than the context is cropped
    was_training = model.training
    model.eval()
    try:
        for _ in range(max_new_tokens):
            context = ids[:, -model.config.context_length:]  # the model sees at most T_max tokens
            logits = model(context)[:, -1]  # (B, V): scores for the token after the last one
            next_id = logits.argmax(dim=-1, keepdim=True).to(ids.dtype)  # (B, 1)
            ids = torch.cat([ids, next_id], dim=1)
    finally:
        model.train(was_training)
    return ids.clone()
