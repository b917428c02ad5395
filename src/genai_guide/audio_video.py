"""Audio, music and video: receptive fields, residual vector quantization, MusicGen's delay pattern,
factorised space-time attention and the Poisson field of PFGM.

The chapter "Audio, music and video" explains each piece; each is tested against a reference:

- `receptive_field`: how far back a stack of dilated causal convolutions sees (WaveNet,
  van den Oord et al. 2016);
- `residual_vector_quantize` and `residual_vector_dequantize`: a neural audio codec's tokenizer,
  codebook after codebook on the residual (equal to `transformers.EncodecModel`'s quantizer);
- `num_codebooks_for_bandwidth`: how many codebooks a bitrate allows (EnCodec, Défossez et al. 2022);
- `build_delay_pattern` and `undo_delay_pattern`: MusicGen's codebook interleaving (Copet et al.
  2023), equal to `MusicgenForCausalLM.build_delay_pattern_mask` and the filter its `generate` applies;
- `spacetime_mask` and `factorized_attention`: spatial and temporal attention over video tokens,
  equal to full attention under a block mask (`torch.nn.functional.scaled_dot_product_attention`);
- `poisson_field`: the electric field of data points seen as charges in one extra dimension
  (PFGM, Xu et al. 2022).

Example:
    >>> import torch
    >>> receptive_field(2, [1, 2, 4, 8])
    16
    >>> codes = torch.tensor([[[1, 2, 3], [4, 5, 6]]])  # (batch 1, 2 codebooks, 3 frames)
    >>> build_delay_pattern(codes, pad_id=9).tolist()
    [[[1, 2, 3, 9], [9, 4, 5, 6]]]
    >>> spacetime_mask(2, 2, "time").int().tolist()
    [[1, 0, 1, 0], [0, 1, 0, 1], [1, 0, 1, 0], [0, 1, 0, 1]]
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from genai_guide._checks import check_float_tensor, check_int

__all__ = [
    "build_delay_pattern",
    "factorized_attention",
    "num_codebooks_for_bandwidth",
    "poisson_field",
    "receptive_field",
    "residual_vector_dequantize",
    "residual_vector_quantize",
    "spacetime_mask",
    "undo_delay_pattern",
]


def receptive_field(kernel_size: int, dilations: Sequence[int]) -> int:
    """How many input samples one output of a stack of dilated causal convolutions depends on.

    A causal convolution with kernel size $k$ and dilation $d$ reads the inputs
    $x_t, x_{t-d}, \\dots, x_{t-(k-1)d}$, so each layer adds $(k - 1)\\,d$ samples of history:

    $$R = 1 + \\sum_{l} (k - 1)\\, d_l.$$

    WaveNet (van den Oord et al. 2016) uses $k = 2$ and dilations $1, 2, 4, \\dots, 512$: one such block
    sees $1 + (1 + 2 + \\dots + 512) = 1024$ samples, and blocks are repeated.

    Args:
        kernel_size: $k \\ge 1$, the same for every layer.
        dilations: the dilation $d_l \\ge 1$ of each layer, input to output.

    Returns:
        The receptive field $R$ in samples.

    Raises:
        TypeError: if `kernel_size` or a dilation is not an int, or `dilations` is not a sequence.
        ValueError: if `kernel_size` or a dilation is < 1.
    """
    check_int("kernel_size", kernel_size, 1)
    if isinstance(dilations, (str, bytes)) or not isinstance(dilations, Sequence):
        raise TypeError(f"dilations must be a sequence of ints, got {type(dilations).__name__}")
    for d in dilations:
        check_int("dilations", d, 1)
    return 1 + sum((kernel_size - 1) * d for d in dilations)


def _check_codebooks(codebooks: object) -> Tensor:
    codebooks = check_float_tensor("codebooks", codebooks)
    if codebooks.dim() != 3 or 0 in codebooks.shape:
        raise ValueError(f"codebooks must be a non-empty 3-D tensor (n_q, codebook_size, dim), got shape "
                         f"{tuple(codebooks.shape)}")
    return codebooks


def residual_vector_quantize(x: Tensor, codebooks: Tensor) -> Tensor:
    """Residual vector quantization (RVQ): one code per codebook, each quantizing what is left.

    The first codebook quantizes the vector, the second quantizes the first one's error, and so on:

    $$r_0 = x,\\qquad c_q = \\arg\\min_j \\lVert r_{q-1} - C_q[j] \\rVert^2,\\qquad r_q = r_{q-1} - C_q[c_q].$$

    SoundStream and EnCodec (Défossez et al. 2022) tokenize audio this way; using only the first
    codebooks gives a coarser approximation at a lower bitrate. Equal to
    `EncodecResidualVectorQuantizer.encode` with the same codebooks (ties go to the lower index).

    Args:
        x: `(..., dim)` vectors, e.g. an audio encoder's frames `(batch, frames, dim)`.
        codebooks: `(n_q, codebook_size, dim)` one codebook per quantizer, in order.

    Returns:
        `(n_q, ...)` int64 codes, codebook first.

    Raises:
        TypeError: if `x` or `codebooks` is not a floating-point tensor.
        ValueError: if `codebooks` is not 3-D or is empty, `x` has no dimension, or the sizes `dim` differ.
    """
    x = check_float_tensor("x", x)
    codebooks = _check_codebooks(codebooks)
    if x.dim() == 0 or x.shape[-1] != codebooks.shape[-1]:
        raise ValueError(f"x must have last dimension dim = {codebooks.shape[-1]} (the codebooks' size), got shape "
                         f"{tuple(x.shape)}")
    residual = x.reshape(-1, x.shape[-1])  # (n, dim)
    codes = []
    for codebook in codebooks:  # (codebook_size, dim)
        distances = ((residual[:, None, :] - codebook[None, :, :]) ** 2).sum(-1)  # (n, codebook_size)
        idx = distances.argmin(dim=-1)  # (n,) the nearest entry
        residual = residual - codebook[idx]  # what this codebook could not represent
        codes.append(idx)
    return torch.stack(codes).reshape(codebooks.shape[0], *x.shape[:-1])  # (n_q, ...)


def residual_vector_dequantize(codes: Tensor, codebooks: Tensor) -> Tensor:
    """Decode RVQ codes: the sum of the chosen entries, $\\hat x = \\sum_q C_q[c_q]$.

    Passing only the first $n$ rows of `codes` decodes with the first $n$ codebooks (a lower bitrate).
    Equal to `EncodecResidualVectorQuantizer.decode` up to the layout (it puts `dim` before frames).

    Args:
        codes: `(n, ...)` integer codes from `residual_vector_quantize`, with $n \\le$ `n_q`.
        codebooks: `(n_q, codebook_size, dim)`.

    Returns:
        `(..., dim)` the quantized vectors.

    Raises:
        TypeError: if `codes` is not an integer tensor or `codebooks` not a floating-point one.
        ValueError: if `codes` has more rows than there are codebooks, or a code is out of range.
    """
    codebooks = _check_codebooks(codebooks)
    if not isinstance(codes, Tensor) or codes.is_floating_point() or codes.dtype == torch.bool:
        raise TypeError(f"codes must be an integer torch.Tensor, got {getattr(codes, 'dtype', type(codes).__name__)}")
    if codes.dim() == 0 or not 1 <= codes.shape[0] <= codebooks.shape[0]:
        raise ValueError(f"codes must have shape (n, ...) with 1 <= n <= {codebooks.shape[0]} codebooks, got shape "
                         f"{tuple(codes.shape)}")
    if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= codebooks.shape[1]):
        raise ValueError(f"codes must lie in [0, {codebooks.shape[1]}), got values in [{int(codes.min())}, "
                         f"{int(codes.max())}]")
    return sum(codebooks[q][codes[q]] for q in range(codes.shape[0]))  # (..., dim)


def num_codebooks_for_bandwidth(bandwidth_kbps: float, frame_rate: int, codebook_size: int) -> int:
    """How many RVQ codebooks fit a bitrate: each one sends $\\log_2 K$ bits per frame.

    $$n_q = \\max\\Big(1, \\Big\\lfloor \\frac{1000\\, b}{f \\log_2 K} \\Big\\rfloor\\Big)$$

    with $b$ in kbps, $f$ frames per second and $K$ entries per codebook. EnCodec at 24 kHz has
    $f = 75$ and $K = 1024$ (10 bits): 750 bps per codebook, so 1.5, 3, 6, 12 and 24 kbps use 2, 4,
    8, 16 and 32 codebooks. Equal to `EncodecResidualVectorQuantizer.get_num_quantizers_for_bandwidth`.

    Args:
        bandwidth_kbps: the target bitrate $b > 0$ in kilobits per second.
        frame_rate: $f \\ge 1$, latent frames per second (sampling rate / hop length, rounded up).
        codebook_size: $K \\ge 2$, a power of two.

    Returns:
        The number of codebooks.

    Raises:
        TypeError: if an argument has the wrong type.
        ValueError: if `bandwidth_kbps <= 0`, `frame_rate < 1` or `codebook_size` is not a power of two >= 2.
    """
    if not isinstance(bandwidth_kbps, (int, float)) or isinstance(bandwidth_kbps, bool):
        raise TypeError(f"bandwidth_kbps must be a number, got {type(bandwidth_kbps).__name__}")
    if not bandwidth_kbps > 0:
        raise ValueError(f"bandwidth_kbps must be > 0, got {bandwidth_kbps!r}")
    check_int("frame_rate", frame_rate, 1)
    check_int("codebook_size", codebook_size, 2)
    if codebook_size & (codebook_size - 1):
        raise ValueError(f"codebook_size must be a power of two, got {codebook_size}")
    bits_per_codebook_per_second = math.log2(codebook_size) * frame_rate
    return max(1, math.floor(bandwidth_kbps * 1000 / bits_per_codebook_per_second))


def _check_codes(name: str, codes: object) -> Tensor:
    if not isinstance(codes, Tensor) or codes.is_floating_point() or codes.dtype == torch.bool:
        raise TypeError(f"{name} must be an integer torch.Tensor, got {getattr(codes, 'dtype', type(codes).__name__)}")
    if codes.dim() != 3 or codes.shape[1] == 0:
        raise ValueError(f"{name} must be 3-D (batch, num_codebooks, length) with at least one codebook, got shape "
                         f"{tuple(codes.shape)}")
    return codes


def build_delay_pattern(codes: Tensor, pad_id: int) -> Tensor:
    """MusicGen's delay pattern: codebook $k$ is shifted $k$ steps to the right.

    With $K$ codebooks and $T$ frames, step $s$ of the delayed sequence holds codebook $k$ of frame
    $s - k$. A language model that emits one token per codebook at each step thus predicts codebook 0 of
    frame $s$ together with codebook 1 of frame $s - 1$, whose codebook 0 it has already produced: $T + K - 1$
    steps instead of the $K T$ of flattening every code into one sequence (Copet et al. 2023).
    Equal to the pattern `MusicgenForCausalLM.build_delay_pattern_mask` builds after its start token.

    Args:
        codes: `(batch, K, T)` integer codes.
        pad_id: the id written where a codebook has no token (MusicGen uses its start token, the
            codebook size); it should not be a code.

    Returns:
        `(batch, K, T + K - 1)` the delayed codes, `pad_id` in the two triangles.

    Raises:
        TypeError: if `codes` is not an integer tensor or `pad_id` not an int.
        ValueError: if `codes` is not 3-D or has no codebook.
    """
    codes = _check_codes("codes", codes)
    check_int("pad_id", pad_id, 0)
    batch, num_codebooks, length = codes.shape
    out = codes.new_full((batch, num_codebooks, length + num_codebooks - 1), pad_id)
    for k in range(num_codebooks):
        out[:, k, k:k + length] = codes[:, k]  # codebook k starts k steps late
    return out


def undo_delay_pattern(delayed: Tensor) -> Tensor:
    """Undo `build_delay_pattern`: take codebook $k$ from steps $k, \\dots, k + T - 1$.

    MusicGen's `generate` does the same by dropping every pad token and reshaping, which works
    because a code never equals the pad id.

    Args:
        delayed: `(batch, K, L)` delayed codes with $L \\ge K$.

    Returns:
        `(batch, K, L - K + 1)` codes aligned by frame.

    Raises:
        TypeError: if `delayed` is not an integer tensor.
        ValueError: if `delayed` is not 3-D or is shorter than its number of codebooks.
    """
    delayed = _check_codes("delayed", delayed)
    num_codebooks, steps = delayed.shape[1], delayed.shape[2]
    if steps < num_codebooks:
        raise ValueError(f"delayed must have length >= its {num_codebooks} codebooks, got length {steps}")
    length = steps - num_codebooks + 1
    return torch.stack([delayed[:, k, k:k + length] for k in range(num_codebooks)], dim=1)


_KINDS = ("space", "time")


def _check_kind(kind: object) -> str:
    if kind not in _KINDS:
        raise ValueError(f"kind must be 'space' or 'time', got {kind!r}")
    return kind  # type: ignore[return-value]


def spacetime_mask(num_frames: int, num_patches: int, kind: str) -> Tensor:
    """Which video tokens may attend to which, for spatial or temporal attention.

    Tokens are ordered frame by frame: token $i = t P + p$ is patch $p$ of frame $t$. Spatial
    attention lets a token see the $P$ tokens of its own frame; temporal attention lets it see the
    $T$ tokens at its own patch position in every frame:

    $$M^{\\text{space}}_{ij} = [t_i = t_j],\\qquad M^{\\text{time}}_{ij} = [p_i = p_j].$$

    Args:
        num_frames: $T \\ge 1$.
        num_patches: $P \\ge 1$ tokens per frame.
        kind: `"space"` or `"time"`.

    Returns:
        `(T P, T P)` boolean mask, True where attention is allowed (the convention of
        `scaled_dot_product_attention`'s boolean `attn_mask`).

    Raises:
        TypeError: if a size is not an int.
        ValueError: if a size is < 1 or `kind` is unknown.
    """
    check_int("num_frames", num_frames, 1)
    check_int("num_patches", num_patches, 1)
    kind = _check_kind(kind)
    index = torch.arange(num_frames * num_patches)
    group = index // num_patches if kind == "space" else index % num_patches  # frame or patch position
    return group[:, None] == group[None, :]


def factorized_attention(q: Tensor, k: Tensor, v: Tensor, num_frames: int, kind: str) -> Tensor:
    """Spatial or temporal attention over video tokens, computed group by group.

    Spatial attention treats each frame as a separate sequence of $P$ tokens (frames become batch);
    temporal attention treats each patch position as a sequence of $T$ tokens (positions become
    batch), as the space-time factorised 3D U-Net of Ho et al. (2022) does. In each group,
    $\\mathrm{softmax}(q k^\\top / \\sqrt{d})\\, v$. The cost is $T P^2$ or $P T^2$ scores instead of
    $(T P)^2$, and the result equals full attention with the mask of `spacetime_mask`.

    Args:
        q: `(batch, heads, T * P, d)` queries, tokens ordered frame by frame.
        k: `(batch, heads, T * P, d)` keys.
        v: `(batch, heads, T * P, d_v)` values.
        num_frames: $T$; it must divide the number of tokens.
        kind: `"space"` (within each frame) or `"time"` (across frames at each position).

    Returns:
        `(batch, heads, T * P, d_v)` the attention output, tokens in the input order.

    Raises:
        TypeError: if `q`, `k` or `v` is not a floating-point tensor, or `num_frames` not an int.
        ValueError: if the shapes do not match, `num_frames` does not divide the tokens, or `kind` is unknown.
    """
    q, k, v = (check_float_tensor(n, t) for n, t in (("q", q), ("k", k), ("v", v)))
    kind = _check_kind(kind)
    check_int("num_frames", num_frames, 1)
    if q.dim() != 4 or k.shape != q.shape or v.dim() != 4 or v.shape[:3] != q.shape[:3]:
        raise ValueError(f"q, k must have the same shape (batch, heads, tokens, d) and v (batch, heads, tokens, d_v), "
                         f"got {tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}")
    batch, heads, tokens, d = q.shape
    if tokens % num_frames:
        raise ValueError(f"num_frames must divide the number of tokens, got {num_frames} frames for {tokens} tokens")
    num_patches = tokens // num_frames

    def to_groups(x: Tensor) -> Tensor:
        x = x.reshape(batch, heads, num_frames, num_patches, x.shape[-1])  # (B, H, T, P, d)
        return x if kind == "space" else x.transpose(2, 3)  # space: groups are frames; time: positions

    qg, kg, vg = to_groups(q), to_groups(k), to_groups(v)  # (B, H, groups, group_len, d)
    scores = qg @ kg.transpose(-1, -2) / math.sqrt(d)  # (B, H, groups, group_len, group_len)
    out = scores.softmax(dim=-1) @ vg  # (B, H, groups, group_len, d_v)
    if kind == "time":
        out = out.transpose(2, 3)  # back to (B, H, T, P, d_v)
    return out.reshape(batch, heads, tokens, v.shape[-1])


def poisson_field(x: Tensor, data: Tensor) -> Tensor:
    """The Poisson (electric) field of data points placed as charges on the plane $z = 0$.

    PFGM (Xu et al. 2022) augments $N$-dimensional data with one extra coordinate $z$; the data points
    $\\tilde y = (y, 0)$ are unit charges of total mass 1, and their field in $N + 1$ dimensions is

    $$E(\\tilde x) = \\frac{1}{S_N(1)} \\frac{1}{m} \\sum_{i=1}^{m}
    \\frac{\\tilde x - \\tilde y_i}{\\lVert \\tilde x - \\tilde y_i \\rVert^{N+1}},$$

    with $S_N(1) = 2\\pi^{(N+1)/2} / \\Gamma(\\tfrac{N+1}{2})$ the area of the unit sphere in
    $\\mathbb{R}^{N+1}$. It is the gradient of the solution of Poisson's equation: divergence-free away
    from the charges, with total flux 1 through any surface that encloses them, so far away it looks
    like a point charge's radial field. PFGM samples by starting far out on a hemisphere and moving
    against the field down to $z = 0$.

    Args:
        x: `(n, N + 1)` points of the augmented space (last coordinate $z$), not on a charge.
        data: `(m, N)` data points.

    Returns:
        `(n, N + 1)` the field at each point.

    Raises:
        TypeError: if `x` or `data` is not a floating-point tensor.
        ValueError: if the shapes do not fit (`x` must have one more column than `data`) or `data` is empty.
    """
    x = check_float_tensor("x", x)
    data = check_float_tensor("data", data)
    if data.dim() != 2 or data.shape[0] == 0 or data.shape[1] == 0:
        raise ValueError(f"data must be a non-empty 2-D tensor (m, N), got shape {tuple(data.shape)}")
    n_dim = data.shape[1]
    if x.dim() != 2 or x.shape[1] != n_dim + 1:
        raise ValueError(f"x must be 2-D (n, N + 1) = (n, {n_dim + 1}), got shape {tuple(x.shape)}")
    charges = torch.cat([data, data.new_zeros(data.shape[0], 1)], dim=1)  # (m, N + 1) on the plane z = 0
    diff = x[:, None, :] - charges[None, :, :]  # (n, m, N + 1)
    dist = diff.norm(dim=-1, keepdim=True)  # (n, m, 1)
    sphere_area = 2 * math.pi ** ((n_dim + 1) / 2) / math.gamma((n_dim + 1) / 2)  # S_N(1)
    return (diff / dist ** (n_dim + 1)).mean(dim=1) / sphere_area  # (n, N + 1)
