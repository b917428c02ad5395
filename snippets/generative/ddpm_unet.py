"""The denoiser diffusion models actually use: a U-Net, here diffusers' UNet2DModel built tiny from a
config for 8x8 one-channel images, its parameter count and one forward pass."""

# --8<-- [start:unet]
import torch
from diffusers import UNet2DModel

torch.set_default_dtype(torch.float64)
torch.manual_seed(0)
unet = UNet2DModel(
    sample_size=8, in_channels=1, out_channels=1,  # 8 x 8 grey images in, predicted noise of the same shape out
    block_out_channels=(32, 64), layers_per_block=1, norm_num_groups=8,  # two resolutions: 8 x 8 and 4 x 4
    down_block_types=("DownBlock2D", "AttnDownBlock2D"), up_block_types=("AttnUpBlock2D", "UpBlock2D"),
    attention_head_dim=16,
)
print(f"UNet2DModel: {sum(p.numel() for p in unet.parameters()):,} parameters")
print("down blocks:", [type(b).__name__ for b in unet.down_blocks], "| up blocks:", [type(b).__name__ for b in unet.up_blocks])

x_t = torch.randn(16, 1, 8, 8)  # a batch of noisy images
t = torch.randint(0, 1000, (16,))  # one timestep per image, embedded sinusoidally inside the model
with torch.no_grad():
    eps_hat = unet(x_t, t).sample
print("input", tuple(x_t.shape), "-> predicted noise", tuple(eps_hat.shape))
assert eps_hat.shape == x_t.shape
# --8<-- [end:unet]
