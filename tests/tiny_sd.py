"""Tiny Stable Diffusion parts for the tests that assemble diffusers pipelines offline (test_guidance,
test_controlnet): a character-level CLIP tokenizer built from the prompts' letters, a one-layer CLIP
text encoder and a two-level AutoencoderKL, all in float64."""

from __future__ import annotations

import torch
from diffusers import AutoencoderKL
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer


def tiny_text_encoder_and_vae(text: str, max_length: int) -> tuple[CLIPTokenizer, CLIPTextModel, AutoencoderKL]:
    """A tokenizer whose vocabulary is the letters of `text` (with end-of-word forms), a CLIP text encoder
    of width 16 and an 8-channel VAE with 4 latent channels, built in float64 (the default dtype is
    restored afterwards). Seed torch before calling it for fixed weights."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        letters = sorted(set(text))
        vocab = {t: i for i, t in enumerate(["<|startoftext|>", "<|endoftext|>", *letters,
                                              *(c + "</w>" for c in letters)])}
        tokenizer = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=max_length)
        text_encoder = CLIPTextModel(CLIPTextConfig(
            vocab_size=len(vocab), hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
            max_position_embeddings=max_length, bos_token_id=0, eos_token_id=1, pad_token_id=1)).eval()
        vae = AutoencoderKL(block_out_channels=(8, 8), down_block_types=("DownEncoderBlock2D",) * 2,
                            up_block_types=("UpDecoderBlock2D",) * 2, layers_per_block=1, latent_channels=4,
                            norm_num_groups=4).eval()
    finally:
        torch.set_default_dtype(previous)
    return tokenizer, text_encoder, vae
