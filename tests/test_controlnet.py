"""genai_guide.controlnet against diffusers and SciPy.

Zero convolutions output zero yet have non-zero weight gradients; `ControlledBlock` is exactly the locked
block at initialisation and only its zero convolution learns at the first step; `sobel_edges` equals
`scipy.ndimage.sobel`; the written-out ControlNet and U-Net passes equal `ControlNetModel` and
`UNet2DConditionModel` with additional residuals (float64, with trained-looking non-zero weights), and
`MultiControlNetModel` adds the residuals of its nets.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers import (
    ControlNetModel,
    DDIMScheduler,
    MultiControlNetModel,
    StableDiffusionControlNetPipeline,
    UNet2DConditionModel,
)
from scipy import ndimage
from torch import nn

from genai_guide.controlnet import (
    ControlledBlock,
    controlnet_residuals,
    sobel_edges,
    unet_with_residuals,
    zero_conv,
)
from genai_guide.guidance import classifier_free_guidance, encode_prompts
from tests.tiny_sd import tiny_text_encoder_and_vae


def _randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# ------------------------------------------------------------------------------ zero convolution


def test_zero_conv_outputs_zero_but_learns():
    z = zero_conv(3, 5).double()
    assert isinstance(z, nn.Conv2d) and z.kernel_size == (1, 1) and z.out_channels == 5
    x, upstream = _randn(2, 3, 4, 4, seed=1), _randn(2, 5, 4, 4, seed=2)
    x.requires_grad_(True)
    y = z(x)
    assert y.shape == (2, 5, 4, 4) and not y.any()
    y.backward(upstream)
    expected = torch.einsum("bohw,bihw->oi", upstream, x.detach())  # dL/dW = sum_pixels dL/dy x^T
    assert torch.allclose(z.weight.grad[..., 0, 0], expected, atol=1e-12)
    assert z.weight.grad.abs().sum() > 0
    assert torch.allclose(z.bias.grad, upstream.sum(dim=(0, 2, 3)), atol=1e-12)
    assert not x.grad.any()  # dL/dx = W^T dL/dy = 0: nothing flows further back at step 0
    assert zero_conv(4).out_channels == 4


def test_zero_conv_rejects_bad_input():
    with pytest.raises(ValueError, match="in_channels"):
        zero_conv(0)
    with pytest.raises(TypeError, match="out_channels"):
        zero_conv(2, 2.0)
    with pytest.raises(TypeError, match="in_channels"):
        zero_conv(True)


# ------------------------------------------------------------------------------ controlled block


def _block():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.SiLU(), nn.Conv2d(6, 4, 3, padding=1)).double()


def test_controlled_block_is_the_locked_block_at_init():
    base = _block()
    block = ControlledBlock(base, in_channels=3, out_channels=4, cond_channels=2)
    x, c = _randn(2, 3, 5, 5, seed=3), _randn(2, 2, 5, 5, seed=4)
    assert torch.equal(block(x, c), base(x))
    assert not any(p.requires_grad for p in block.locked.parameters())
    assert all(p.requires_grad for p in block.trainable.parameters())
    for a, b in zip(block.locked.parameters(), block.trainable.parameters(), strict=True):
        assert torch.equal(a, b) and a.data_ptr() != b.data_ptr()  # a copy, not shared


def test_controlled_block_equation_two_and_gradient_flow():
    base = _block()
    block = ControlledBlock(base, in_channels=3, out_channels=4, cond_channels=2)
    x, c = _randn(2, 3, 5, 5, seed=5), _randn(2, 2, 5, 5, seed=6)
    optimizer = torch.optim.SGD([p for p in block.parameters() if p.requires_grad], lr=0.1)
    has_grad = []
    for _ in range(3):
        optimizer.zero_grad()
        block(x, c).square().mean().backward()
        has_grad.append({n for n, p in block.named_parameters() if p.grad is not None and p.grad.any()})
        optimizer.step()
    assert has_grad[0] == {"zero_out.weight", "zero_out.bias"}  # only the output zero conv at step 0
    assert {"trainable.0.weight", "trainable.2.weight"} <= has_grad[1] and "zero_in.weight" in has_grad[1]
    assert not any(n.startswith("locked") for n in has_grad[2])
    # after training, y_c = F(x) + Z(F_c(x + Z(c)))  (Zhang et al. 2023, equation 2), written out
    with torch.no_grad():
        expected = base(x) + block.zero_out(block.trainable(x + block.zero_in(c)))
        assert torch.equal(block(x, c), expected)
        assert not torch.equal(block(x, c), base(x))


def test_controlled_block_rejects_bad_input():
    with pytest.raises(TypeError, match="block"):
        ControlledBlock(lambda x: x, 1, 1, 1)
    with pytest.raises(ValueError, match="cond_channels"):
        ControlledBlock(_block(), 3, 4, 0)
    block = ControlledBlock(_block(), 3, 4, 2)
    with pytest.raises(ValueError, match="c must have shape"):
        block(_randn(2, 3, 5, 5), _randn(2, 2, 4, 4))
    with pytest.raises(TypeError, match="x"):
        block(torch.zeros(2, 3, 5, 5, dtype=torch.long), _randn(2, 2, 5, 5))


# ------------------------------------------------------------------------------ edge maps


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sobel_equals_scipy(seed):
    images = _randn(2, 3, 7, 9, seed=seed)
    ours = sobel_edges(images)
    assert ours.shape == images.shape and ours.dtype == torch.float64
    for idx in np.ndindex(2, 3):
        a = images[idx].numpy()
        theirs = np.hypot(ndimage.sobel(a, axis=0), ndimage.sobel(a, axis=1))
        assert np.allclose(ours[idx].numpy(), theirs, rtol=0, atol=1e-12)


def test_sobel_threshold_gives_binary_edges():
    image = torch.zeros(6, 6, dtype=torch.float64)
    image[:, 3:] = 1.0  # a vertical step
    edges = sobel_edges(image, threshold=0.5)
    assert set(edges.unique().tolist()) == {0.0, 1.0}
    assert edges[:, 2:4].all() and not edges[:, :2].any() and not edges[:, 4:].any()
    assert not sobel_edges(torch.zeros(4, 4), threshold=0.0).any()  # a blank image has no edges
    magnitude = sobel_edges(_randn(5, 5, seed=9))
    assert torch.equal(sobel_edges(_randn(5, 5, seed=9), threshold=0.3), (magnitude > 0.3 * magnitude.max()).double())


def test_sobel_rejects_bad_input():
    with pytest.raises(ValueError, match="images"):
        sobel_edges(torch.zeros(5))
    with pytest.raises(ValueError, match="images"):
        sobel_edges(torch.zeros(1, 5))
    with pytest.raises(TypeError, match="images"):
        sobel_edges(torch.zeros(4, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="threshold"):
        sobel_edges(torch.zeros(4, 4), threshold=1.0)
    with pytest.raises(TypeError, match="threshold"):
        sobel_edges(torch.zeros(4, 4), threshold="0.5")


# ------------------------------------------------------------------------------ with diffusers


@pytest.fixture(scope="module")
def tiny():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        torch.manual_seed(0)
        unet = UNet2DConditionModel(
            sample_size=8, in_channels=4, out_channels=4, block_out_channels=(8, 16), layers_per_block=1,
            down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=16, attention_head_dim=2,
            norm_num_groups=4).eval()
        controlnet = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(4, 8)).eval()
        trained = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(4, 8)).eval()
        with torch.no_grad():  # as after training: every zero convolution non-zero
            for name, p in trained.named_parameters():
                if name.startswith(("controlnet_down_blocks", "controlnet_mid_block", "controlnet_cond_embedding")):
                    p.copy_(0.1 * torch.randn_like(p))
    finally:
        torch.set_default_dtype(previous)
    return unet, controlnet, trained


def _inputs(batch=2, seed=10):
    return (_randn(batch, 4, 8, 8, seed=seed), _randn(batch, 5, 16, seed=seed + 1),
            _randn(batch, 3, 16, 16, seed=seed + 2))


def test_from_unet_copies_the_encoder(tiny):
    unet, controlnet, _ = tiny
    for part in ("conv_in", "time_embedding", "down_blocks", "mid_block"):
        ours, theirs = getattr(controlnet, part).state_dict(), getattr(unet, part).state_dict()
        assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    zero = [*controlnet.controlnet_down_blocks, controlnet.controlnet_mid_block,
            controlnet.controlnet_cond_embedding.conv_out]
    assert all(not p.any() for z in zero for p in z.parameters())


@pytest.mark.parametrize("timestep", [0, 999, "tensor"])
def test_controlled_unet_equals_original_at_init(tiny, timestep):
    unet, controlnet, _ = tiny
    x, text, cond = _inputs()
    t = torch.tensor([3, 700]) if timestep == "tensor" else timestep
    down, mid = controlnet(x, t, text, cond, return_dict=False)
    plain = unet(x, t, text).sample
    assert torch.equal(unet(x, t, text, down_block_additional_residuals=down,
                            mid_block_additional_residual=mid).sample, plain)
    ours_down, ours_mid = controlnet_residuals(controlnet, x, t, text, cond)
    assert all(not r.any() for r in [*ours_down, ours_mid])
    assert torch.equal(unet_with_residuals(unet, x, t, text, ours_down, ours_mid), plain)
    assert torch.equal(unet_with_residuals(unet, x, t, text), plain)


@pytest.mark.parametrize(("timestep", "scale"), [(10, 1.0), (500, 0.5), ("tensor", 2.0), (999, 0.0)])
def test_residuals_and_injection_equal_diffusers(tiny, timestep, scale):
    unet, _, trained = tiny
    x, text, cond = _inputs(seed=20)
    t = torch.tensor([3, 700]) if timestep == "tensor" else timestep
    down, mid = trained(x, t, text, cond, conditioning_scale=scale, return_dict=False)
    ours_down, ours_mid = controlnet_residuals(trained, x, t, text, cond, conditioning_scale=scale)
    assert len(ours_down) == len(down) == 4
    assert all(torch.equal(a, b) for a, b in zip(ours_down, down, strict=True)) and torch.equal(ours_mid, mid)
    theirs = unet(x, t, text, down_block_additional_residuals=down, mid_block_additional_residual=mid).sample
    ours = unet_with_residuals(unet, x, t, text, ours_down, ours_mid)
    assert torch.allclose(ours, theirs, rtol=0, atol=1e-12)
    if scale > 0:
        assert not torch.allclose(ours, unet(x, t, text).sample, atol=1e-6)  # the condition now matters


def test_multi_controlnet_adds_residuals(tiny):
    trained = tiny[2]
    x, text, cond = _inputs(seed=30)
    other = _randn(2, 3, 16, 16, seed=40)
    multi = MultiControlNetModel([trained, trained])
    down, mid = multi(x, 5, text, [cond, other], [1.0, 0.5], return_dict=False)
    d1, m1 = controlnet_residuals(trained, x, 5, text, cond, 1.0)
    d2, m2 = controlnet_residuals(trained, x, 5, text, other, 0.5)
    assert all(torch.allclose(d, a + b, atol=1e-14) for d, a, b in zip(down, d1, d2, strict=True))
    assert torch.allclose(mid, m1 + m2, atol=1e-14)


def _hand_loop(unet, vae, controlnet, scheduler, cond, uncond, latents, image, steps, scale, control_scale):
    """StableDiffusionControlNetPipeline by hand: guided batch [uncond, cond], residuals for both halves."""
    scheduler.set_timesteps(steps)
    z = latents * scheduler.init_noise_sigma
    context, images = torch.cat([uncond, cond]), torch.cat([image, image])
    for t in scheduler.timesteps:
        z_in = scheduler.scale_model_input(torch.cat([z, z]), t)
        down, mid = controlnet_residuals(controlnet, z_in, t, context, images, control_scale)
        eps_u, eps_c = unet_with_residuals(unet, z_in, t, context, down, mid).chunk(2)
        z = scheduler.step(classifier_free_guidance(eps_u, eps_c, scale), t, z).prev_sample
    return (vae.decode(z / vae.config.scaling_factor).sample / 2 + 0.5).clamp(0, 1)


@pytest.mark.parametrize(("guidance", "control_scale"), [(4.0, 1.0), (7.5, 0.6)])
def test_hand_loop_equals_controlnet_pipeline(tiny, guidance, control_scale):
    unet, _, trained = tiny
    torch.manual_seed(1)
    tokenizer, text_encoder, vae = tiny_text_encoder_and_vae("a red circle", max_length=16)

    def scheduler():
        return DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, clip_sample=False,
                             set_alpha_to_one=False, steps_offset=1)

    pipe = StableDiffusionControlNetPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                             controlnet=trained, scheduler=scheduler(), safety_checker=None,
                                             feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    latents = _randn(1, 4, 8, 8, seed=50)
    # the pipeline rounds the control image to float32 (prepare_image): give it one that float32 holds exactly
    image = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(51), dtype=torch.float32).double()
    theirs = pipe("a red circle", image=image, height=16, width=16, num_inference_steps=3, guidance_scale=guidance,
                  controlnet_conditioning_scale=control_scale, latents=latents, output_type="pt").images
    cond = encode_prompts(tokenizer, text_encoder, ["a red circle"])
    uncond = encode_prompts(tokenizer, text_encoder, [""])
    ours = _hand_loop(unet, vae, trained, scheduler(), cond, uncond, latents, image, 3, guidance, control_scale)
    assert ours.shape == theirs.shape == (1, 3, 16, 16)
    assert torch.allclose(ours, theirs, rtol=0, atol=1e-12)


def test_rejects_bad_input(tiny):
    unet, controlnet, _ = tiny
    x, text, cond = _inputs()
    down, mid = controlnet_residuals(controlnet, x, 1, text, cond)
    with pytest.raises(ValueError, match="conditioning_scale"):
        controlnet_residuals(controlnet, x, 1, text, cond, -1.0)
    with pytest.raises(TypeError, match="conditioning_scale"):
        controlnet_residuals(controlnet, x, 1, text, cond, "1")
    with pytest.raises(ValueError, match="controlnet_cond"):
        controlnet_residuals(controlnet, x, 1, text, cond[:, :, :8, :8])  # embeds to 4 x 4, not 8 x 8
    with pytest.raises(ValueError, match="controlnet_cond"):
        controlnet_residuals(controlnet, x, 1, text, cond[:1])
    with pytest.raises(ValueError, match="encoder_hidden_states"):
        controlnet_residuals(controlnet, x, 1, text[:1], cond)
    with pytest.raises(ValueError, match="timestep"):
        controlnet_residuals(controlnet, x, torch.tensor([1, 2, 3]), text, cond)
    with pytest.raises(ValueError, match="down_residuals must hold"):
        unet_with_residuals(unet, x, 1, text, down[:-1], mid)
    with pytest.raises(ValueError, match=r"down_residuals\[2\]"):
        unet_with_residuals(unet, x, 1, text, [*down[:2], down[0], down[3]], mid)
    with pytest.raises(ValueError, match="mid_residual"):
        unet_with_residuals(unet, x, 1, text, down, down[0])
    with pytest.raises(ValueError, match="sample"):
        unet_with_residuals(unet, _randn(2, 4, 7, 7), 1, text)
    with pytest.raises(TypeError, match="sample"):
        unet_with_residuals(unet, torch.zeros(2, 4, 8, 8, dtype=torch.long), 1, text)
