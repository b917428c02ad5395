"""Stable Diffusion 1.5's three networks at full size, built on the meta device (shapes only, no memory,
no download) from the configs of its model card, and their parameters counted."""

# --8<-- [start:sizes]
import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel

with torch.device("meta"):  # parameters get shapes but no storage: an 860M-parameter model in milliseconds
    unet = UNet2DConditionModel(  # Stable Diffusion 1.5's unet/config.json
        sample_size=64, in_channels=4, out_channels=4, layers_per_block=2, block_out_channels=(320, 640, 1280, 1280),
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        cross_attention_dim=768, attention_head_dim=8)
    vae = AutoencoderKL(  # vae/config.json: 512 x 512 x 3 pixels <-> 64 x 64 x 4 latents
        block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4, layers_per_block=2, latent_channels=4, sample_size=512,
        scaling_factor=0.18215)
    text_encoder = CLIPTextModel(CLIPTextConfig(  # CLIP ViT-L/14's text tower, text_encoder/config.json
        vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
        max_position_embeddings=77, hidden_act="quick_gelu", projection_dim=768))

sizes = {"U-Net (denoiser)": unet, "VAE encoder + decoder": vae, "CLIP ViT-L/14 text encoder": text_encoder}
counts = {name: sum(p.numel() for p in part.parameters()) for name, part in sizes.items()}
for name, count in counts.items():
    print(f"{name:<28} {count:>13,}")
print(f"{'total':<28} {sum(counts.values()):>13,}")
assert next(unet.parameters()).is_meta and round(counts["U-Net (denoiser)"] / 1e6) == 860  # the model card's 860M
assert round(counts["CLIP ViT-L/14 text encoder"] / 1e6) == 123  # and its 123M text encoder
pixels, latents = 512 * 512 * 3, 64 * 64 * 4
print(f"a 512 x 512 image: {pixels:,} numbers; its latent: {latents:,} ({pixels // latents}x fewer)")
# --8<-- [end:sizes]
