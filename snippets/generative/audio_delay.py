"""MusicGen's codebook delay pattern, built and undone by hand and equal to a tiny
transformers.MusicgenForCausalLM's build_delay_pattern_mask and the filter its generate applies;
then the pattern with a prompt, where the model fills the free slots, and the step count it saves."""

# --8<-- [start:pattern]
import torch
from transformers import MusicgenDecoderConfig, MusicgenForCausalLM

from genai_guide.audio_video import build_delay_pattern, undo_delay_pattern

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)  # before building the model
K, T, V = 4, 6, 16  # 4 codebooks, 6 frames, 16 codes per codebook
config = MusicgenDecoderConfig(vocab_size=V, num_codebooks=K, hidden_size=16, ffn_dim=32, num_hidden_layers=1,
                               num_attention_heads=2, max_position_embeddings=32,
                               pad_token_id=V, bos_token_id=V)  # the start/pad token is id 16, outside the codes
model = MusicgenForCausalLM(config).eval()

codes = torch.randint(0, V, (2, K, T))  # (batch, K, T): what an audio codec gives for 2 clips
delayed = build_delay_pattern(codes, pad_id=V)  # (batch, K, T + K - 1)
start = torch.full((2 * K, 1), V)  # MusicGen's sequences begin with the start token in every codebook
_, pattern = model.build_delay_pattern_mask(torch.cat([start, codes.reshape(2 * K, T)], dim=1),
                                            pad_token_id=V, max_length=1 + T + K - 1)
assert torch.equal(pattern.reshape(2, K, -1)[:, :, 1:], delayed)  # after the start column: the same pattern
print(f"codes {tuple(codes.shape)} -> delayed {tuple(delayed.shape)}; clip 0, one row per codebook (P = pad):")
for k in range(K):
    print(f"  k={k}  " + " ".join(" P" if c == V else f"{c:2d}" for c in delayed[0, k].tolist()))

back = undo_delay_pattern(delayed)
hf_back = pattern[pattern != V].reshape(2, K, -1)  # what MusicgenForCausalLM.generate does: drop every pad
assert torch.equal(back, codes) and torch.equal(hf_back, codes)
print("undo_delay_pattern = generate's pad filter = the original codes:", torch.equal(back, hf_back))
# --8<-- [end:pattern]

# --8<-- [start:generate]
prompt = codes[:, :, :2].reshape(2 * K, 2)  # continue the clips from their first 2 frames
ids, mask = model.build_delay_pattern_mask(torch.cat([start, prompt], dim=1), pad_token_id=V, max_length=1 + T + K - 1)
print("with a 2-frame prompt, clip 0 (-1 = predicted by the model):")
for k in range(K):
    print(f"  k={k}  " + " ".join(" P" if c == V else f"{c:2d}" for c in mask[k].tolist()))
with torch.no_grad():
    logits = model(input_ids=ids).logits  # one position = K tokens, embedded and summed
print(f"the model reads {tuple(ids.shape)} ids (batch x K, steps) and gives logits {tuple(logits.shape)}: "
      f"one head per codebook")
sampled = torch.randint(0, V, mask.shape)  # stand-in for what the model would sample at every step
filled = MusicgenForCausalLM.apply_delay_pattern_mask(sampled, mask)  # keeps the prompt and the pads
assert torch.equal(filled[mask != -1], mask[mask != -1]) and torch.equal(filled[mask == -1], sampled[mask == -1])
print(f"steps to generate {T} frames: delay {T + K - 1}, flattened {K * T}; "
      f"30 s of MusicGen (50 frames/s, 4 codebooks): {1500 + 4 - 1} against {4 * 1500}")
# --8<-- [end:generate]
