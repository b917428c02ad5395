"""Latent diffusion in miniature: a tiny AutoencoderKL, a text-conditioned UNet2DConditionModel and a CLIP
text encoder, assembled into diffusers' StableDiffusionPipeline offline, and our hand-written denoising
loop (prompt and empty prompt, classifier-free guidance, scheduler steps, VAE decode) equal to it."""

# --8<-- [start:parts]
import torch
from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

torch.set_default_dtype(torch.float64)  # float64: the same numbers on every CPU
torch.manual_seed(0)
letters = sorted(set("a photo of red blue green circle square digit"))  # a byte-level BPE vocabulary, no merges
vocab = {t: i for i, t in enumerate(["<|startoftext|>", "<|endoftext|>", *letters, *(c + "</w>" for c in letters)])}
tokenizer = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=16)  # built locally: nothing downloaded
text_encoder = CLIPTextModel(CLIPTextConfig(
    vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
    max_position_embeddings=16, bos_token_id=0, eos_token_id=1, pad_token_id=1)).eval()
vae = AutoencoderKL(  # 16 x 16 x 3 pixels <-> 8 x 8 x 4 latents
    block_out_channels=(8, 16), down_block_types=("DownEncoderBlock2D",) * 2,
    up_block_types=("UpDecoderBlock2D",) * 2, layers_per_block=1, latent_channels=4, norm_num_groups=4).eval()
unet = UNet2DConditionModel(  # the denoiser; cross-attention reads the 32-dim token embeddings
    sample_size=8, in_channels=4, out_channels=4, block_out_channels=(16, 32), layers_per_block=1,
    down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
    cross_attention_dim=32, attention_head_dim=4, norm_num_groups=8).eval()
scheduler = DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,  # Stable Diffusion's
                          clip_sample=False, set_alpha_to_one=False, steps_offset=1)
pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                               scheduler=scheduler, safety_checker=None, feature_extractor=None,
                               requires_safety_checker=False)
pipe.set_progress_bar_config(disable=True)
for name, part in (("text encoder", text_encoder), ("VAE", vae), ("U-Net", unet)):
    print(f"{name:<13} {sum(p.numel() for p in part.parameters()):>7,} parameters")
print("tokens of 'a red circle':", tokenizer("a red circle").input_ids)
print(f"VAE scaling factor {vae.config.scaling_factor}, pixels per latent side {pipe.vae_scale_factor}")
# --8<-- [end:parts]

# --8<-- [start:loop]
from genai_guide.guidance import classifier_free_guidance, encode_prompts, latent_diffusion_sample

prompt, steps, scale = "a red circle", 6, 7.5
latents = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(1))  # z_T, shared by both runs
theirs = pipe(prompt, height=16, width=16, num_inference_steps=steps, guidance_scale=scale, latents=latents,
              output_type="pt").images  # (1, 3, 16, 16) in [0, 1]
cond, uncond = encode_prompts(tokenizer, text_encoder, [prompt]), encode_prompts(tokenizer, text_encoder, [""])
ours = latent_diffusion_sample(unet, vae, scheduler, cond, uncond, latents, steps, scale)
same = torch.allclose(ours, theirs, rtol=0, atol=1e-12)
print(f"image {tuple(ours.shape)}, {ours.dtype}; equal to the pipeline's within 1e-12: {same}")
assert same

eps_u, eps_c = torch.randn(2, 1, 4, 8, 8)
assert torch.equal(classifier_free_guidance(eps_u, eps_c, scale), eps_u + scale * (eps_c - eps_u))  # diffusers' line
unguided = latent_diffusion_sample(unet, vae, scheduler, cond, uncond, latents, steps, 1.0)  # s = 1: no guidance
print(f"mean pixel change from s = 1 to s = {scale}: {(ours - unguided).abs().mean().item():.2f}")
# --8<-- [end:loop]
