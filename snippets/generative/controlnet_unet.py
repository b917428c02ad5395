"""ControlNet on a tiny U-Net: `ControlNetModel.from_unet` copies the encoder, its zero convolutions make the
controlled U-Net equal to the original at initialisation (exactly, float64), our written-out forward passes equal
diffusers', and four training steps on digit edge maps show how the gradient reaches the trainable copy."""

# --8<-- [start:parts]
import torch
from diffusers import ControlNetModel, UNet2DConditionModel
from sklearn.datasets import load_digits

from genai_guide.controlnet import controlnet_residuals, sobel_edges, unet_with_residuals

torch.set_default_dtype(torch.float64)  # float64: the same numbers on every CPU
torch.manual_seed(0)
unet = UNet2DConditionModel(  # the "pretrained" denoiser (untrained here), on 8 x 8 one-channel images
    sample_size=8, in_channels=1, out_channels=1, block_out_channels=(16, 32), layers_per_block=1,
    down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
    cross_attention_dim=32, attention_head_dim=4, norm_num_groups=8).requires_grad_(False)  # locked
controlnet = ControlNetModel.from_unet(  # copies conv_in, the time embedding, the down and mid blocks
    unet, conditioning_channels=1, conditioning_embedding_out_channels=(8, 16))  # E: 16 x 16 edges -> 8 x 8
zero_convs = [*controlnet.controlnet_down_blocks, controlnet.controlnet_mid_block]
count = lambda m: sum(p.numel() for p in m.parameters())
print(f"U-Net {count(unet):,} parameters; ControlNet {count(controlnet):,}, of which "
      f"{len(zero_convs)} zero convolutions ({sum(map(count, zero_convs)):,}) and the edge encoder "
      f"({count(controlnet.controlnet_cond_embedding):,})")

digits = torch.tensor(load_digits().images) / 8 - 1  # (1797, 8, 8) grey digits in [-1, 1]
x0 = digits[:, None]  # (1797, 1, 8, 8): the images the model denoises
edges = sobel_edges(torch.nn.functional.interpolate(x0, scale_factor=2, mode="bilinear"), threshold=0.5)
print(f"edge maps {tuple(edges.shape)}, {edges.mean().item():.0%} of pixels are edges")
# --8<-- [end:parts]

# --8<-- [start:init]
g = torch.Generator().manual_seed(1)
x_t, t = torch.randn(4, 1, 8, 8, generator=g), torch.tensor([10, 250, 500, 999])  # noisy images and timesteps
text = torch.randn(4, 6, 32, generator=g)  # stands in for the prompt's token embeddings
down, mid = controlnet(x_t, t, text, controlnet_cond=edges[:4], return_dict=False)
print("residuals:", [tuple(r.shape[1:]) for r in down], "mid", tuple(mid.shape[1:]))
print("all residuals exactly zero:", all(not r.any() for r in [*down, mid]))
plain = unet(x_t, t, text).sample
controlled = unet(x_t, t, text, down_block_additional_residuals=down, mid_block_additional_residual=mid).sample
print("controlled U-Net == original U-Net (torch.equal):", torch.equal(controlled, plain))
assert torch.equal(controlled, plain)

ours_down, ours_mid = controlnet_residuals(controlnet, x_t, t, text, edges[:4])  # written out, same modules
assert all(torch.equal(a, b) for a, b in zip(ours_down, down, strict=True)) and torch.equal(ours_mid, mid)
assert torch.equal(unet_with_residuals(unet, x_t, t, text, ours_down, ours_mid), controlled)
print("our residuals and residual injection == diffusers' (torch.equal): True")
# --8<-- [end:init]

# --8<-- [start:train]
from diffusers import DDPMScheduler

alpha_bar = DDPMScheduler(num_train_timesteps=1000).alphas_cumprod  # the usual linear schedule
optimizer = torch.optim.Adam(controlnet.parameters(), lr=1e-3)  # only the ControlNet learns
val = torch.arange(1500, 1532)  # held-out digits
other = torch.roll(val, 1)  # each paired with another digit's edge map


def noisy(idx: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    step = torch.randint(0, 1000, (len(idx),), generator=gen)
    noise = torch.randn(len(idx), 1, 8, 8, generator=gen)
    a = alpha_bar[step].view(-1, 1, 1, 1)
    return a.sqrt() * x0[idx] + (1 - a).sqrt() * noise, step, noise  # x_t, t, epsilon


def predict(x: torch.Tensor, step: torch.Tensor, cond: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    context = text[:1].expand(len(x), -1, -1)
    d, m = controlnet(x, step, context, controlnet_cond=cond, conditioning_scale=scale, return_dict=False)
    return unet(x, step, context, down_block_additional_residuals=d, mid_block_additional_residual=m).sample


val_x, val_t, _ = noisy(val, torch.Generator().manual_seed(2))
named = dict(controlnet.named_parameters())
print("step  loss    tensors with gradient  |prediction change| when the edge map is swapped")
for step in range(4):
    with torch.no_grad():
        change = (predict(val_x, val_t, edges[val]) - predict(val_x, val_t, edges[other])).abs().mean().item()
    idx = torch.randint(0, 1500, (16,), generator=g)
    x, s, noise = noisy(idx, g)
    loss = ((predict(x, s, edges[idx]) - noise) ** 2).mean()  # the usual epsilon loss, edges as the condition
    optimizer.zero_grad()
    loss.backward()
    with_grad = [n for n, p in named.items() if p.grad is not None and p.grad.any()]
    print(f"{step:>4}  {loss.item():.4f}  {len(with_grad):>3} of {len(named)}{'':<12}{change:.1e}")
    if step == 0:
        assert all(n.startswith(("controlnet_down_blocks", "controlnet_mid_block")) for n in with_grad)
        assert len(with_grad) == 2 * len(zero_convs) and change == 0  # only the zero convolutions' W and b
    optimizer.step()
assert change > 0

with torch.no_grad():  # the conditioning scale multiplies every residual: 0 switches the ControlNet off
    context = text[:1].expand(len(val), -1, -1)
    off = torch.equal(predict(val_x, val_t, edges[val], 0.0), unet(val_x, val_t, context).sample)
    one = controlnet(val_x, val_t, context, edges[val], conditioning_scale=1.0, return_dict=False)
    two = controlnet(val_x, val_t, context, edges[val], conditioning_scale=2.0, return_dict=False)
    doubled = all(torch.equal(b, 2 * a) for a, b in zip([*one[0], one[1]], [*two[0], two[1]], strict=True))
print(f"conditioning_scale=0 gives the plain U-Net: {off}; conditioning_scale=2 doubles every residual: {doubled}")
assert off and doubled
# --8<-- [end:train]
