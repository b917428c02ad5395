"""Counting a transformer's parameters and the memory it needs, with closed-form formulas.

The chapter [Counting parameters and memory](../../architectures/counting.md) explains every formula.
The parameter counts are exact: the tests compare them with models that `transformers` builds on the
meta device (GPT-2, BERT, Llama) and with `torch.nn.Transformer`. The memory functions are
arithmetic on those counts; `activation_bytes_estimate` is an estimate and is named as one.

Papers: Vaswani et al. 2017 (the encoder-decoder Transformer), Radford et al. 2019 (GPT-2),
Devlin et al. 2018 (BERT), Touvron et al. 2023 (Llama 2).
"""

from __future__ import annotations

from typing import Literal

__all__ = [
    "BYTES_PER_PARAM",
    "activation_bytes_estimate",
    "bits_per_weight",
    "decoder_params",
    "encoder_decoder_params",
    "encoder_params",
    "kv_cache_bytes",
    "quantized_weight_bytes",
    "training_bytes_per_param",
    "weight_bytes",
]

#: Bytes to store one number in each format used for weights.
BYTES_PER_PARAM: dict[str, float] = {"fp32": 4, "fp16": 2, "bf16": 2, "int8": 1, "int4": 0.5}


def _positive_int(name: str, value: object, *, allow_zero: bool = False) -> int:
    """Return ``value`` if it is an int > 0 (or >= 0), else raise an error naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value}")
    return value


def _heads(d_model: int, n_heads: int, n_kv_heads: int | None, head_dim: int | None) -> tuple[int, int]:
    """Validate the head layout; return ``(n_kv_heads, head_dim)``."""
    _positive_int("n_heads", n_heads)
    n_kv = n_heads if n_kv_heads is None else _positive_int("n_kv_heads", n_kv_heads)
    if n_heads % n_kv:
        raise ValueError(f"n_heads ({n_heads}) must be a multiple of n_kv_heads ({n_kv})")
    if head_dim is None:
        if d_model % n_heads:
            raise ValueError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads}) unless head_dim is given")
        head_dim = d_model // n_heads
    return n_kv, _positive_int("head_dim", head_dim)


def _norm(d_model: int, norm: str) -> int:
    """Parameters of one normalisation layer: LayerNorm has a gain and a bias, RMSNorm a gain only."""
    if norm not in ("layernorm", "rmsnorm"):
        raise ValueError(f"norm must be 'layernorm' or 'rmsnorm', got {norm!r}")
    return 2 * d_model if norm == "layernorm" else d_model


def _attention(d_model: int, n_heads: int, n_kv: int, head_dim: int, bias: bool) -> int:
    """Q and output projections for ``n_heads`` heads, K and V for ``n_kv`` heads."""
    q_out = n_heads * head_dim
    kv_out = n_kv * head_dim
    weights = d_model * q_out + 2 * d_model * kv_out + q_out * d_model
    return weights + (q_out + 2 * kv_out + d_model if bias else 0)


def _mlp(d_model: int, d_ff: int, bias: bool, gated: bool) -> int:
    """Two matrices (up, down) or three for a gated MLP (gate, up, down)."""
    n_in = 2 if gated else 1
    return (n_in + 1) * d_model * d_ff + ((n_in * d_ff + d_model) if bias else 0)


def decoder_params(
    vocab_size: int,
    d_model: int,
    n_layers: int,
    n_heads: int,
    d_ff: int,
    context: int,
    *,
    tied: bool = True,
    bias: bool = True,
    n_kv_heads: int | None = None,
    head_dim: int | None = None,
    learned_positions: bool = True,
    gated_mlp: bool = False,
    norm: Literal["layernorm", "rmsnorm"] = "layernorm",
) -> int:
    """Number of parameters of a decoder-only transformer language model.

    With $V$ the vocabulary, $d$ the width, $L$ the layers, $d_{ff}$ the MLP width, $T$ the
    context and $n$ the parameters of one norm ($2d$ for LayerNorm, $d$ for RMSNorm), plain
    multi-head attention without biases gives

    $$N = \\underbrace{Vd}_{\\text{tokens}} + \\underbrace{Td}_{\\text{positions}}
    + L\\,(4d^2 + 2 d\\, d_{ff} + 2n) + n + \\underbrace{Vd}_{\\text{unless tied}},$$

    about $12Ld^2$ for the layers when $d_{ff} = 4d$. Biases add $4d + d_{ff} + d$ per layer; a
    gated MLP (SwiGLU) has a third matrix, $3d\\,d_{ff}$; grouped-query attention shrinks K and V to
    ``n_kv_heads * head_dim`` outputs. GPT-2 (Radford et al. 2019) is the default layout; Llama 2
    (Touvron et al. 2023) is ``tied=False, bias=False, learned_positions=False, gated_mlp=True,
    norm="rmsnorm"``.

    Args:
        vocab_size: tokens in the vocabulary $V$.
        d_model: width $d$ of the residual stream.
        n_layers: number of blocks $L$.
        n_heads: attention heads per block.
        d_ff: hidden width of the MLP.
        context: maximum positions $T$; sets the size of a learned position table.
        tied: whether the output projection reuses the token embedding matrix.
        bias: whether the linear layers have biases.
        n_kv_heads: key/value heads (grouped-query attention); defaults to ``n_heads``.
        head_dim: width of one head; defaults to ``d_model // n_heads``.
        learned_positions: a learned $T \\times d$ position table (GPT-2); ``False`` for rotary.
        gated_mlp: a gated MLP with three matrices (SwiGLU, Llama).
        norm: ``"layernorm"`` (gain and bias) or ``"rmsnorm"`` (gain only).

    Returns:
        The exact parameter count, counting a tied matrix once.

    Raises:
        TypeError: a size is not an int.
        ValueError: a size is not positive, or the heads do not divide evenly.
    """
    for name, value in (("vocab_size", vocab_size), ("d_model", d_model), ("n_layers", n_layers),
                        ("d_ff", d_ff), ("context", context)):
        _positive_int(name, value)
    n_kv, hd = _heads(d_model, n_heads, n_kv_heads, head_dim)
    n = _norm(d_model, norm)
    block = _attention(d_model, n_heads, n_kv, hd, bias) + _mlp(d_model, d_ff, bias, gated_mlp) + 2 * n
    embeddings = vocab_size * d_model + (context * d_model if learned_positions else 0)
    return embeddings + n_layers * block + n + (0 if tied else vocab_size * d_model)


def encoder_params(
    vocab_size: int,
    d_model: int,
    n_layers: int,
    n_heads: int,
    d_ff: int,
    context: int,
    *,
    type_vocab_size: int = 2,
    pooler: bool = True,
) -> int:
    """Number of parameters of a BERT-style encoder (Devlin et al. 2018), as `BertModel` builds it.

    Token, position and segment embeddings plus a LayerNorm, then $L$ post-norm blocks with biases
    and a LayerNorm after attention and after the MLP, then an optional pooler ($d^2 + d$):

    $$N = (V + T + S)\\,d + 2d + L\\,(4d^2 + 4d + 2d\\,d_{ff} + d_{ff} + d + 4d) + [d^2 + d].$$

    Args:
        vocab_size: tokens in the vocabulary $V$.
        d_model: hidden width $d$.
        n_layers: number of blocks $L$.
        n_heads: attention heads (must divide ``d_model``; they do not change the count).
        d_ff: hidden width of the MLP ("intermediate size").
        context: maximum positions $T$.
        type_vocab_size: segment types $S$ (2 in BERT: sentence A and B).
        pooler: whether to count the pooler on the first token.

    Returns:
        The exact parameter count.

    Raises:
        TypeError: a size is not an int.
        ValueError: a size is not positive, or ``n_heads`` does not divide ``d_model``.
    """
    for name, value in (("vocab_size", vocab_size), ("d_model", d_model), ("n_layers", n_layers),
                        ("d_ff", d_ff), ("context", context)):
        _positive_int(name, value)
    _positive_int("type_vocab_size", type_vocab_size, allow_zero=True)
    n_kv, hd = _heads(d_model, n_heads, None, None)
    block = _attention(d_model, n_heads, n_kv, hd, True) + _mlp(d_model, d_ff, True, False) + 2 * 2 * d_model
    embeddings = (vocab_size + context + type_vocab_size) * d_model + 2 * d_model
    return embeddings + n_layers * block + (d_model * d_model + d_model if pooler else 0)


def encoder_decoder_params(
    vocab_size: int,
    d_model: int,
    n_encoder_layers: int,
    n_decoder_layers: int,
    n_heads: int,
    d_ff: int,
    *,
    shared_embeddings: bool = True,
    final_norms: bool = False,
) -> int:
    """Number of parameters of the encoder-decoder Transformer of Vaswani et al. 2017.

    Sinusoidal positions have no parameters. An encoder layer has self-attention, an MLP and two
    LayerNorms; a decoder layer adds cross-attention and a third LayerNorm:

    $$N_{enc} = 4d^2 + 4d + 2d\\,d_{ff} + d_{ff} + d + 4d, \\qquad
      N_{dec} = N_{enc} + 4d^2 + 4d + 2d.$$

    The paper (section 3.4) shares one $V \\times d$ matrix between the source embedding, the
    target embedding and the output projection (``shared_embeddings=True``); otherwise there are
    three. ``final_norms=True`` adds the LayerNorm that `torch.nn.Transformer` puts after each stack.

    Args:
        vocab_size: tokens in the (shared) vocabulary $V$.
        d_model: width $d$.
        n_encoder_layers: encoder layers.
        n_decoder_layers: decoder layers.
        n_heads: attention heads (must divide ``d_model``; they do not change the count).
        d_ff: hidden width of the MLP.
        shared_embeddings: one embedding matrix for source, target and output.
        final_norms: a LayerNorm after the encoder stack and one after the decoder stack.

    Returns:
        The exact parameter count.

    Raises:
        TypeError: a size is not an int.
        ValueError: a size is not positive, or ``n_heads`` does not divide ``d_model``.
    """
    for name, value in (("vocab_size", vocab_size), ("d_model", d_model), ("n_encoder_layers", n_encoder_layers),
                        ("n_decoder_layers", n_decoder_layers), ("d_ff", d_ff)):
        _positive_int(name, value)
    n_kv, hd = _heads(d_model, n_heads, None, None)
    attn = _attention(d_model, n_heads, n_kv, hd, True)
    mlp = _mlp(d_model, d_ff, True, False)
    enc = attn + mlp + 2 * 2 * d_model
    dec = 2 * attn + mlp + 3 * 2 * d_model
    embeddings = vocab_size * d_model * (1 if shared_embeddings else 3)
    return embeddings + n_encoder_layers * enc + n_decoder_layers * dec + (4 * d_model if final_norms else 0)


def training_bytes_per_param(mixed_precision: bool = False) -> dict[str, int]:
    """Bytes per parameter held while training with Adam, by role (activations not included).

    Full fp32: weights 4 + gradients 4 + Adam's two moments 8 = 16 bytes. Mixed precision
    (Micikevicius et al. 2018) keeps bf16/fp16 weights and gradients (2 + 2) plus an fp32 master copy
    of the weights (4) and the fp32 moments (8): also 16 bytes. Mixed precision saves activation
    memory and time, not optimizer memory.

    Args:
        mixed_precision: 16-bit weights and gradients with an fp32 master copy.

    Returns:
        A dict from role to bytes; ``sum(d.values())`` is the total per parameter.
    """
    if not isinstance(mixed_precision, bool):
        raise TypeError(f"mixed_precision must be a bool, got {type(mixed_precision).__name__}")
    if mixed_precision:
        return {"weights": 2, "gradients": 2, "master weights": 4, "adam moments": 8}
    return {"weights": 4, "gradients": 4, "adam moments": 8}


def weight_bytes(n_params: int, dtype: str) -> float:
    """Bytes to hold ``n_params`` weights in ``dtype`` (one of `BYTES_PER_PARAM`), for inference.

    $$M = N \\times b, \\qquad b \\in \\{4, 2, 1, 0.5\\} \\text{ for fp32, bf16, int8, int4}.$$

    Quantization scales and zero points add a little on top; they are not counted.

    Raises:
        TypeError: ``n_params`` is not an int.
        ValueError: ``n_params`` is negative or ``dtype`` is unknown.
    """
    _positive_int("n_params", n_params, allow_zero=True)
    if dtype not in BYTES_PER_PARAM:
        raise ValueError(f"dtype must be one of {sorted(BYTES_PER_PARAM)}, got {dtype!r}")
    return n_params * BYTES_PER_PARAM[dtype]


def bits_per_weight(bits: int, group_size: int | None = None, scale_bits: int = 16, zero_point_bits: int = 0) -> float:
    """Average storage of one quantized weight in bits, its share of the group's scale included.

    Group-wise formats (GPTQ, AWQ, NF4) store one scale, and for affine codes one zero point, per
    group of $g$ weights:

    $$b_{\\text{weight}} = b + \\frac{b_{\\text{scale}} + b_{\\text{zero}}}{g},$$

    $4 + 16/128 = 4.125$ bits for 4-bit weights in groups of 128 with an fp16 scale, $4.25$ with an
    fp16 zero point as well, and $4 + 32/64 = 4.5$ for NF4's fp32 absmax per 64 weights.
    ``group_size=None`` counts no scales: one per tensor or per output row adds a negligible
    $b_{\\text{scale}} / d_{\\text{in}}$ bits (0.004 for 16 bits and 4,096 inputs).

    Args:
        bits: bits of each stored integer (or float) $b$.
        group_size: weights sharing one scale $g$, or ``None``.
        scale_bits: bits of each scale (16 for fp16, 32 for fp32).
        zero_point_bits: bits of each zero point (0 for symmetric codes).

    Raises:
        TypeError: a size is not an int.
        ValueError: ``bits`` or ``group_size`` is not positive, or a scale size is negative.
    """
    _positive_int("bits", bits)
    _positive_int("scale_bits", scale_bits, allow_zero=True)
    _positive_int("zero_point_bits", zero_point_bits, allow_zero=True)
    if group_size is None:
        return float(bits)
    return bits + (scale_bits + zero_point_bits) / _positive_int("group_size", group_size)


def quantized_weight_bytes(
    n_params: int, bits: int, group_size: int | None = None, scale_bits: int = 16, zero_point_bits: int = 0
) -> float:
    """Bytes to hold ``n_params`` weights quantized to ``bits``, group scales included (`bits_per_weight`).

    $$M = N \\times \\frac{b_{\\text{weight}}}{8};$$

    ``quantized_weight_bytes(n, 16)``, ``(n, 8)`` and ``(n, 4)`` equal `weight_bytes` for bf16, int8 and
    int4, which leave the scales out.

    Raises:
        TypeError: a size is not an int.
        ValueError: ``n_params`` is negative, or see `bits_per_weight`.
    """
    _positive_int("n_params", n_params, allow_zero=True)
    return n_params * bits_per_weight(bits, group_size, scale_bits, zero_point_bits) / 8


def kv_cache_bytes(
    n_layers: int, n_kv_heads: int, head_dim: int, tokens: int, batch: int = 1, bytes_per_value: float = 2
) -> float:
    """Bytes of the key-value cache: one key and one value vector per layer, KV head and token.

    $$M_{KV} = 2 \\times L \\times h_{kv} \\times d_{head} \\times b \\times T \\times B.$$

    Args:
        n_layers: layers $L$.
        n_kv_heads: key/value heads $h_{kv}$ (fewer than the query heads with GQA/MQA).
        head_dim: width of one head $d_{head}$.
        tokens: cached tokens per sequence $T$ (prompt plus generated).
        batch: sequences $B$.
        bytes_per_value: bytes per number $b$ (2 for bf16, 4 for fp32).

    Raises:
        TypeError: a count is not an int.
        ValueError: a count or ``bytes_per_value`` is not positive.
    """
    for name, value in (("n_layers", n_layers), ("n_kv_heads", n_kv_heads), ("head_dim", head_dim),
                        ("batch", batch)):
        _positive_int(name, value)
    _positive_int("tokens", tokens, allow_zero=True)
    if isinstance(bytes_per_value, bool) or not isinstance(bytes_per_value, (int, float)) or bytes_per_value <= 0:
        raise ValueError(f"bytes_per_value must be a positive number, got {bytes_per_value!r}")
    return 2 * n_layers * n_kv_heads * head_dim * bytes_per_value * tokens * batch


def activation_bytes_estimate(
    n_layers: int,
    d_model: int,
    n_heads: int,
    tokens: int,
    batch: int = 1,
    *,
    d_ff: int | None = None,
    mlp: Literal["gelu", "swiglu"] = "gelu",
    dropout: bool = True,
    fused_attention: bool = False,
    n_kv_heads: int | None = None,
) -> int:
    """An estimate of the activations a training step keeps for the backward pass, in bytes.

    Counted the way Korthikanti et al. 2022 count them: every tensor that a layer's backward pass
    needs is kept once, at 2 bytes per value (16-bit activations) and 1 byte per dropout-mask entry,
    with no recomputation. Per layer, with $s$ tokens, $b$ sequences, $h$ = `d_model`, $a$ heads,
    $f$ = `d_ff` and $h_{kv}$ the width of the keys and values:

    - the two norms keep their inputs, $4sbh$;
    - attention keeps the input of the QKV projection ($2sbh$), $Q$, $K$ and $V$
      ($2sbh + 4sbh_{kv}$) and the input of the output projection ($2sbh$). Unfused, it also keeps the
      softmax output, $2as^2b$, plus with dropout its mask and the dropped-out weights, $3as^2b$. A
      fused kernel (FlashAttention) keeps only a log-sum-exp per query and head, $4asb$ in float32,
      and regenerates any dropout mask. Dropout after the projection adds a mask, $sbh$;
    - a GELU MLP keeps its input ($2sbh$), the GELU's input and output ($2sbf$ each) and, with
      dropout, a mask ($sbh$); a SwiGLU MLP keeps its input and four $f$-wide tensors: the gate, its
      SiLU, the up projection and their product ($8sbf$).

    For GPT-3's block (GELU, $f = 4h$, dropout, attention matrices kept), the defaults, this is
    Korthikanti et al.'s $sbh\\,(34 + 5as/h)$ per layer. A Llama block (SwiGLU, no dropout) keeps
    $16sbh + 8sbf + 2as^2b$ with multi-head attention, or $16sbh + 8sbf + 4asb$ with a fused kernel.
    Embeddings, the final norm and the logits are not counted, and frameworks often keep more than
    this count (norms and softmax computed in float32, for example): an estimate, not a measurement.

    Args:
        n_layers: layers $L$.
        d_model: width $h$.
        n_heads: query heads $a$.
        tokens: tokens per sequence $s$.
        batch: sequences $b$.
        d_ff: MLP width $f$; defaults to $4h$.
        mlp: ``"gelu"`` (two matrices) or ``"swiglu"`` (gated, three matrices).
        dropout: whether the block applies dropout (GPT-2, GPT-3) or not (Llama).
        fused_attention: a fused kernel that never stores the $s \\times s$ attention weights.
        n_kv_heads: key/value heads (grouped-query attention); defaults to ``n_heads``.

    Raises:
        TypeError: a count is not an int, or a flag is not a bool.
        ValueError: a count is not positive, or ``mlp`` is unknown.
    """
    for name, value in (("n_layers", n_layers), ("d_model", d_model), ("tokens", tokens), ("batch", batch)):
        _positive_int(name, value)
    n_kv, head_dim = _heads(d_model, n_heads, n_kv_heads, None)
    f = 4 * d_model if d_ff is None else _positive_int("d_ff", d_ff)
    if mlp not in ("gelu", "swiglu"):
        raise ValueError(f"mlp must be 'gelu' or 'swiglu', got {mlp!r}")
    for name, flag in (("dropout", dropout), ("fused_attention", fused_attention)):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be a bool, got {type(flag).__name__}")
    h, a, s, sb = d_model, n_heads, tokens, tokens * batch
    h_kv = n_kv * head_dim
    mask = 1 if dropout else 0  # bytes per element of a dropout mask
    norms = 2 * (2 * sb * h)
    attention = 2 * sb * h + (2 * sb * h + 4 * sb * h_kv) + 2 * sb * h + mask * sb * h
    if fused_attention:
        attention += 4 * a * sb  # float32 log-sum-exp per query and head
    else:
        attention += (2 + 3 * mask) * a * s * sb  # softmax output (+ dropout mask and dropped weights)
    inner = 4 if mlp == "gelu" else 8  # bytes per token and unit of f: 2 or 4 tensors of 2 bytes
    ffn = 2 * sb * h + inner * sb * f + mask * sb * h
    return n_layers * (norms + attention + ffn)
