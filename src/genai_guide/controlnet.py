r"""ControlNet: zero convolutions, a locked and a trainable copy, and the residuals they add to a U-Net.

The chapter [ControlNet](../../generative/controlnet.md) explains these, and `tests/test_controlnet.py`
checks each against `diffusers` (and the edges against SciPy):

- `zero_conv`: a $1 \times 1$ convolution whose weight and bias start at zero, the "zero convolution"
  $\mathcal{Z}(\cdot\,; \Theta_z)$ of Zhang, Rao & Agrawala (2023);
- `ControlledBlock`: one network block with ControlNet attached (their equation 2),
  $y_c = \mathcal{F}(x; \Theta) + \mathcal{Z}\big(\mathcal{F}(x + \mathcal{Z}(c; \Theta_{z1}); \Theta_c); \Theta_{z2}\big)$,
  the locked block $\Theta$ frozen and the trainable copy $\Theta_c$ started from its weights;
- `controlnet_residuals`: the forward pass of `diffusers.ControlNetModel` written out: the trainable
  copy of the U-Net's encoder and middle block reads the noisy sample plus the embedded condition
  image, and one zero convolution per skip connection (and one for the middle block) turns its
  features into residuals, multiplied by the conditioning scale;
- `unet_with_residuals`: the forward pass of `diffusers.UNet2DConditionModel` written out, adding those
  residuals to the skip connections and to the middle block's output, as its
  `down_block_additional_residuals` and `mid_block_additional_residual` arguments do;
- `sobel_edges`: the Sobel gradient magnitude of an image and, with a threshold, a binary edge map: a
  simple stand-in for the Canny edges that the first ControlNets were trained on.

Example:
    >>> import torch
    >>> z = zero_conv(3, 5)
    >>> z(torch.randn(2, 3, 4, 4)).abs().max().item()
    0.0
    >>> edges = sobel_edges(torch.tensor([[0.0, 0.0, 1.0, 1.0]] * 4), threshold=0.5)
    >>> print(*edges[0].tolist())
    0.0 1.0 1.0 0.0
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genai_guide._checks import check_float_tensor, check_int

__all__ = [
    "ControlledBlock",
    "controlnet_residuals",
    "sobel_edges",
    "unet_with_residuals",
    "zero_conv",
]


def zero_conv(in_channels: int, out_channels: int | None = None) -> nn.Conv2d:
    r"""A zero convolution: a $1 \times 1$ convolution with weight and bias initialised to zero.

    $\mathcal{Z}(x; W, b) = W x + b$ at every pixel, so at initialisation it outputs exactly zero for
    any input. Its gradients are not zero, though:
    $\partial \mathcal{L} / \partial W = \sum_{\text{pixels}} (\partial \mathcal{L} / \partial y)\, x^\top$
    and $\partial \mathcal{L} / \partial b = \sum_{\text{pixels}} \partial \mathcal{L} / \partial y$, so the
    first optimiser step makes it non-zero (Zhang, Rao & Agrawala 2023, arXiv 2302.05543; `diffusers`
    builds these with `zero_module(nn.Conv2d(c, c, kernel_size=1))`).

    Args:
        in_channels: input channels, at least 1.
        out_channels: output channels, at least 1; `in_channels` when `None`.

    Returns:
        An `nn.Conv2d` mapping `(batch, in_channels, h, w)` to `(batch, out_channels, h, w)`, in the
        default dtype.

    Raises:
        TypeError: if a channel count is not an int.
        ValueError: if a channel count is below 1.
    """
    check_int("in_channels", in_channels, 1)
    out_channels = in_channels if out_channels is None else check_int("out_channels", out_channels, 1)
    conv = nn.Conv2d(in_channels, out_channels, kernel_size=1)
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


class ControlledBlock(nn.Module):
    r"""A network block with a ControlNet attached (Zhang, Rao & Agrawala 2023, equation 2).

    $$y_c = \mathcal{F}(x; \Theta) + \mathcal{Z}\big(\mathcal{F}(x + \mathcal{Z}(c; \Theta_{z1}); \Theta_c); \Theta_{z2}\big)$$

    The locked block $\mathcal{F}(\cdot\,; \Theta)$ is frozen (`requires_grad` off); the trainable copy
    $\Theta_c$ starts as a deep copy of it; the two zero convolutions start at zero (in the block's
    dtype and device), so at initialisation $y_c = \mathcal{F}(x; \Theta)$ exactly, whatever the
    condition $c$. At the first step only $\Theta_{z2}$ gets a gradient (the zero weight of
    $\Theta_{z2}$ stops it from flowing further back); once that weight is non-zero, the gradient
    reaches $\Theta_c$ and $\Theta_{z1}$.

    Args:
        block: the pretrained block $\mathcal{F}$, mapping `(batch, in_channels, h, w)` to
            `(batch, out_channels, h', w')`. It is frozen in place.
        in_channels: channels of $x$.
        out_channels: channels of the block's output.
        cond_channels: channels of the condition $c$, which has the spatial size of $x$.

    Raises:
        TypeError: if `block` is not an `nn.Module` or a channel count is not an int.
        ValueError: if a channel count is below 1.
    """

    def __init__(self, block: nn.Module, in_channels: int, out_channels: int, cond_channels: int) -> None:
        super().__init__()
        if not isinstance(block, nn.Module):
            raise TypeError(f"block must be a torch.nn.Module, got {type(block).__name__}")
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels),
                            ("cond_channels", cond_channels)):
            check_int(name, value, 1)
        self.locked = block.requires_grad_(False)  # Θ: frozen
        self.trainable = copy.deepcopy(block).requires_grad_(True)  # Θ_c: starts from Θ
        self.zero_in = zero_conv(cond_channels, in_channels)  # Z(c; Θ_z1)
        self.zero_out = zero_conv(out_channels)  # Z(·; Θ_z2)
        like = next(block.parameters(), None)
        if like is not None:  # the zero convolutions take the block's dtype and device
            self.zero_in.to(like)
            self.zero_out.to(like)

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        """`y_c` for features `x` of shape `(batch, in_channels, h, w)` and condition `c` of shape `(batch, cond_channels, h, w)`."""
        x = check_float_tensor("x", x)
        c = check_float_tensor("c", c)
        if c.ndim != 4 or x.ndim != 4 or c.shape[0] != x.shape[0] or c.shape[2:] != x.shape[2:]:
            raise ValueError(f"c must have shape (batch, cond_channels, h, w) matching x {tuple(x.shape)}, "
                             f"got {tuple(c.shape)}")
        y = self.locked(x)  # F(x; Θ), the original block's output
        return y + self.zero_out(self.trainable(x + self.zero_in(c)))  # + Z(F(x + Z(c)); Θ_c))


# ------------------------------------------------------------------------------ edge maps


def sobel_edges(images: Tensor, threshold: float | None = None) -> Tensor:
    r"""Sobel gradient magnitude of images, or a binary edge map when `threshold` is given.

    $G_x = K_x * I$, $G_y = K_x^\top * I$ with
    $K_x = \begin{pmatrix} -1 & 0 & 1 \\ -2 & 0 & 2 \\ -1 & 0 & 1 \end{pmatrix}$ (a derivative
    across, smoothed along), borders padded by repeating the edge pixel (`scipy.ndimage.sobel`'s
    default `mode="reflect"`), and $|G| = \sqrt{G_x^2 + G_y^2}$. With a threshold $\tau$ a pixel is an
    edge when $|G| > \tau \max |G|$ (the maximum per image). Canny's detector adds Gaussian smoothing,
    non-maximum suppression and two thresholds with hysteresis on top of the same gradient.

    Args:
        images: grey images, shape `(..., h, w)` with `h, w >= 2`.
        threshold: `None` for the magnitude, or $\tau \in [0, 1)$ for a 0/1 edge map.

    Returns:
        The magnitude or the edge map, the shape and dtype of `images`.

    Raises:
        TypeError: if `images` is not a floating tensor or `threshold` not a number.
        ValueError: if `images` has fewer than 2 dimensions or a side below 2, or `threshold` is out of range.
    """
    images = check_float_tensor("images", images)
    if images.ndim < 2 or images.shape[-1] < 2 or images.shape[-2] < 2:
        raise ValueError(f"images must have shape (..., h, w) with h, w >= 2, got {tuple(images.shape)}")
    if threshold is not None:
        if isinstance(threshold, bool) or not isinstance(threshold, int | float):
            raise TypeError(f"threshold must be a number or None, got {type(threshold).__name__}")
        if not (0 <= threshold < 1) or math.isnan(threshold):
            raise ValueError(f"threshold must lie in [0, 1), got {threshold}")
    shape = images.shape
    x = images.reshape(-1, 1, *shape[-2:])  # (n, 1, h, w)
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=x.dtype, device=x.device)
    kernels = torch.stack([kx, kx.T])[:, None]  # (2, 1, 3, 3): d/dx, d/dy
    grad = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernels)  # (n, 2, h, w)
    magnitude = torch.hypot(grad[:, 0], grad[:, 1]).reshape(shape)
    if threshold is None:
        return magnitude
    peak = magnitude.amax(dim=(-2, -1), keepdim=True)
    return (magnitude > threshold * peak).to(images.dtype)


# ------------------------------------------------------------------------------ ControlNet with diffusers


def _check_plain(model: Any, name: str) -> None:
    """The written-out passes cover the plain text-conditioned configuration (Stable Diffusion 1.x, 2.x)."""
    config = model.config
    extras = ("class_embed_type", "num_class_embeds", "addition_embed_type", "encoder_hid_dim_type")
    used = [key for key in extras if config.get(key) is not None]
    if used or config.get("center_input_sample") or getattr(model, "time_embed_act", None) is not None:
        raise ValueError(f"{name} must be a plain text-conditioned model; unsupported config: {used or 'extras'}")


def _time_embedding(model: Any, sample: Tensor, timestep: Tensor | float) -> Tensor:
    """The sinusoidal embedding of the timestep through the model's MLP, one row per sample."""
    t = torch.as_tensor(timestep, device=sample.device)
    if t.ndim > 1 or (t.ndim == 1 and t.shape[0] not in (1, sample.shape[0])):
        raise ValueError(f"timestep must be a number or a tensor of shape (batch,), got {tuple(t.shape)}")
    t = t.reshape(-1).expand(sample.shape[0])  # (batch,)
    return model.time_embedding(model.time_proj(t).to(sample.dtype))  # (batch, time_embed_dim)


def _check_sample(sample: object, context: object) -> tuple[Tensor, Tensor]:
    sample = check_float_tensor("sample", sample)
    context = check_float_tensor("encoder_hidden_states", context)
    if sample.ndim != 4:
        raise ValueError(f"sample must have shape (batch, channels, h, w), got {tuple(sample.shape)}")
    if context.ndim != 3 or context.shape[0] != sample.shape[0]:
        raise ValueError(f"encoder_hidden_states must have shape (batch = {sample.shape[0]}, tokens, dim), "
                         f"got {tuple(context.shape)}")
    return sample, context


def _down_and_mid(model: Any, h: Tensor, emb: Tensor, context: Tensor) -> tuple[list[Tensor], Tensor]:
    """The encoder and the middle block: the skip features (the input to each down block's layers) and the bottleneck."""
    skips = [h]  # (batch, c_0, h, w) after conv_in
    for block in model.down_blocks:
        if getattr(block, "has_cross_attention", False):
            h, res = block(hidden_states=h, temb=emb, encoder_hidden_states=context)
        else:
            h, res = block(hidden_states=h, temb=emb)
        skips.extend(res)  # one per layer, plus one after the downsampler
    if getattr(model.mid_block, "has_cross_attention", False):
        h = model.mid_block(h, emb, encoder_hidden_states=context)
    else:
        h = model.mid_block(h, emb)
    return skips, h


def controlnet_residuals(controlnet: Any, sample: Tensor, timestep: Tensor | float,
                         encoder_hidden_states: Tensor, controlnet_cond: Tensor,
                         conditioning_scale: float = 1.0) -> tuple[list[Tensor], Tensor]:
    r"""The residuals a `diffusers.ControlNetModel` adds to a U-Net, computed from its parts.

    1. $h = \mathrm{conv\_in}(z_t) + E(c)$: the noisy latents through the copied input convolution,
       plus the condition image through the small encoder $E$ (`controlnet_cond_embedding`, whose last
       convolution is a zero convolution);
    2. the trainable copy of the encoder and middle block runs on $h$ with the timestep and the text,
       keeping the feature of every skip connection;
    3. each skip feature goes through its own zero convolution (`controlnet_down_blocks`) and the
       bottleneck through `controlnet_mid_block`, and all are multiplied by the conditioning scale $s$.

    Not covered: `guess_mode`, `global_pool_conditions`, BGR channel order, class or extra embeddings.

    Args:
        controlnet: a `diffusers.ControlNetModel`, for example `ControlNetModel.from_unet(unet)`.
        sample: the noisy latents $z_t$, shape `(batch, in_channels, h, w)`.
        timestep: a number or a tensor of shape `(batch,)`.
        encoder_hidden_states: the text embeddings, shape `(batch, tokens, cross_attention_dim)`.
        controlnet_cond: the condition image, shape `(batch, conditioning_channels, H, W)`, with $H, W$
            the latent size times $2^{k}$ for the $k$ stride-2 layers of $E$.
        conditioning_scale: $s \ge 0$ (`controlnet_conditioning_scale` in the pipelines).

    Returns:
        `(down, mid)`: one residual per skip connection, each the shape of that skip, and the middle
        block's residual; equal to `ControlNetModel(...)`'s `down_block_res_samples` and
        `mid_block_res_sample`.

    Raises:
        TypeError: if a tensor is not floating or the scale not a number.
        ValueError: if shapes do not fit, the scale is negative or the model uses an unsupported option.
    """
    sample, context = _check_sample(sample, encoder_hidden_states)
    cond = check_float_tensor("controlnet_cond", controlnet_cond)
    if cond.ndim != 4 or cond.shape[0] != sample.shape[0]:
        raise ValueError(f"controlnet_cond must have shape (batch = {sample.shape[0]}, channels, H, W), "
                         f"got {tuple(cond.shape)}")
    if isinstance(conditioning_scale, bool) or not isinstance(conditioning_scale, int | float):
        raise TypeError(f"conditioning_scale must be a number, got {type(conditioning_scale).__name__}")
    if not math.isfinite(conditioning_scale) or conditioning_scale < 0:
        raise ValueError(f"conditioning_scale must be a finite number >= 0, got {conditioning_scale}")
    _check_plain(controlnet, "controlnet")
    if controlnet.config.controlnet_conditioning_channel_order != "rgb" or controlnet.config.global_pool_conditions:
        raise ValueError("controlnet must use the rgb channel order without global_pool_conditions")

    emb = _time_embedding(controlnet, sample, timestep)  # (batch, time_embed_dim)
    hint = controlnet.controlnet_cond_embedding(cond)  # E(c): (batch, c_0, h, w)
    h = controlnet.conv_in(sample)  # (batch, c_0, h, w)
    if hint.shape != h.shape:
        raise ValueError(f"controlnet_cond embeds to {tuple(hint.shape)}, but the latents to {tuple(h.shape)}")
    skips, h = _down_and_mid(controlnet, h + hint, emb, context)  # the trainable copy
    down = [zero(skip) * conditioning_scale for skip, zero in zip(skips, controlnet.controlnet_down_blocks, strict=True)]
    mid = controlnet.controlnet_mid_block(h) * conditioning_scale
    return down, mid


def unet_with_residuals(unet: Any, sample: Tensor, timestep: Tensor | float, encoder_hidden_states: Tensor,
                        down_residuals: list[Tensor] | tuple[Tensor, ...] | None = None,
                        mid_residual: Tensor | None = None) -> Tensor:
    r"""The noise prediction of a `diffusers.UNet2DConditionModel` with ControlNet residuals added, from its parts.

    The locked U-Net runs as usual, except that residual $r_i$ is added to skip connection $i$ before
    the decoder reads it, and $r_\text{mid}$ to the middle block's output:
    $\text{skip}_i \leftarrow \text{skip}_i + r_i$, $h_\text{mid} \leftarrow h_\text{mid} + r_\text{mid}$.
    Several ControlNets add the sum of their residuals. With no residuals this is the plain U-Net.

    Args:
        unet: a `diffusers.UNet2DConditionModel` in its plain text-conditioned configuration.
        sample: the noisy latents $z_t$, shape `(batch, in_channels, h, w)`, with $h, w$ multiples of
            $2^{\text{downsamplers}}$.
        timestep: a number or a tensor of shape `(batch,)`.
        encoder_hidden_states: the text embeddings, shape `(batch, tokens, cross_attention_dim)`.
        down_residuals: one tensor per skip connection, each that skip's shape, or `None`.
        mid_residual: the middle block's residual, or `None`.

    Returns:
        $\hat\epsilon$, shape `(batch, out_channels, h, w)`, equal to `unet(sample, timestep,
        encoder_hidden_states, down_block_additional_residuals=..., mid_block_additional_residual=...).sample`.

    Raises:
        TypeError: if a tensor is not floating.
        ValueError: if the number or shapes of the residuals do not match the skips, or the model uses
            an unsupported option.
    """
    sample, context = _check_sample(sample, encoder_hidden_states)
    _check_plain(unet, "unet")
    factor = 2 ** unet.num_upsamplers
    if sample.shape[-1] % factor or sample.shape[-2] % factor:
        raise ValueError(f"sample's height and width must be multiples of {factor}, got {tuple(sample.shape[-2:])}")

    emb = _time_embedding(unet, sample, timestep)  # (batch, time_embed_dim)
    skips, h = _down_and_mid(unet, unet.conv_in(sample), emb, context)  # the locked encoder
    if down_residuals is not None:
        if len(down_residuals) != len(skips):
            raise ValueError(f"down_residuals must hold {len(skips)} tensors, one per skip, got {len(down_residuals)}")
        for i, (skip, r) in enumerate(zip(skips, down_residuals, strict=True)):
            if check_float_tensor(f"down_residuals[{i}]", r).shape != skip.shape:
                raise ValueError(f"down_residuals[{i}] must have shape {tuple(skip.shape)}, got {tuple(r.shape)}")
        skips = [skip + r for skip, r in zip(skips, down_residuals, strict=True)]  # skip_i + r_i
    if mid_residual is not None:
        if check_float_tensor("mid_residual", mid_residual).shape != h.shape:
            raise ValueError(f"mid_residual must have shape {tuple(h.shape)}, got {tuple(mid_residual.shape)}")
        h = h + mid_residual  # h_mid + r_mid

    for block in unet.up_blocks:  # the decoder reads the skips last-in, first-out
        n = len(block.resnets)
        res, skips = tuple(skips[-n:]), skips[:-n]
        if getattr(block, "has_cross_attention", False):
            h = block(hidden_states=h, temb=emb, res_hidden_states_tuple=res, encoder_hidden_states=context)
        else:
            h = block(hidden_states=h, temb=emb, res_hidden_states_tuple=res)
    return unet.conv_out(unet.conv_act(unet.conv_norm_out(h)))  # (batch, out_channels, h, w)
