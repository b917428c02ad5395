"""Audio as samples and as tokens: the receptive field of WaveNet's dilated causal convolutions,
measured with a gradient; then a tiny transformers.EncodecModel (no download) whose residual vector
quantizer is rewritten by hand, and how the bitrate sets the number of codebooks."""

# --8<-- [start:wavenet]
import torch

from genai_guide.audio_video import receptive_field

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)  # before building any model: its weights are float64 too


class CausalConv(torch.nn.Conv1d):
    """A dilated convolution padded on the left only: output t reads inputs t, t - d, ..."""

    def forward(self, x):
        pad = (self.kernel_size[0] - 1) * self.dilation[0]
        return super().forward(torch.nn.functional.pad(x, (pad, 0)))


dilations = [1, 2, 4, 8, 16, 32]  # WaveNet doubles the dilation at each layer
stack = torch.nn.Sequential(*[CausalConv(1, 1, kernel_size=2, dilation=d) for d in dilations])
x = torch.randn(1, 1, 100, requires_grad=True)  # (batch, channels, samples)
stack(x)[0, 0, 80].backward()  # one output sample, at t = 80
seen = (x.grad[0, 0] != 0).nonzero().flatten()  # the inputs it depends on
print(f"output 80 depends on inputs {seen.min().item()}..{seen.max().item()}: {len(seen)} samples "
      f"= receptive_field(2, {dilations}) = {receptive_field(2, dilations)}")
assert seen.max().item() == 80 and len(seen) == receptive_field(2, dilations)  # causal, and the formula holds
wavenet = [2**i for i in range(10)] * 3  # 1, 2, ..., 512, three times
print(f"WaveNet block 1..512: {receptive_field(2, wavenet[:10])} samples; three blocks: "
      f"{receptive_field(2, wavenet)} samples = {receptive_field(2, wavenet) / 16:.0f} ms at 16 kHz")
# --8<-- [end:wavenet]

# --8<-- [start:encodec]
from transformers import EncodecConfig, EncodecModel

config = EncodecConfig(
    sampling_rate=8_000, upsampling_ratios=[4, 4], num_filters=4, hidden_size=8,  # hop 16: 500 frames/s
    num_lstm_layers=1, codebook_size=16, target_bandwidths=[2.0, 4.0, 8.0],  # 16 entries = 4 bits a code
)
codec = EncodecModel(config).eval()
t = torch.arange(1600) / config.sampling_rate  # 0.2 s of audio
audio = (0.5 * torch.sin(2 * torch.pi * 440 * t) + 0.1 * torch.randn(1600)).reshape(1, 1, -1)  # (batch, 1, samples)

# transformers starts the codebooks at zero; EnCodec initialises each one by k-means on the first
# batch's residuals, which we do here on our audio's latents (16 centres, 10 Lloyd steps)
with torch.no_grad():
    residual = codec.encoder(audio).transpose(1, 2).reshape(-1, config.codebook_dim)  # (frames, dim)
    for layer in codec.quantizer.layers:
        centres = residual[torch.randperm(len(residual))[: config.codebook_size]]
        for _ in range(10):
            nearest = torch.cdist(residual, centres).argmin(dim=1)
            centres = torch.stack([residual[nearest == j].mean(0) if (nearest == j).any() else centres[j]
                                   for j in range(config.codebook_size)])
        layer.codebook.embed.copy_(centres)
        residual = residual - centres[torch.cdist(residual, centres).argmin(dim=1)]  # the next codebook's input

print(f"{config.sampling_rate} Hz, hop {config.hop_length} -> {config.frame_rate} frames/s, "
      f"{config.codebook_size}-entry codebooks ({config.codebook_nbits} bits), {codec.quantizer.num_quantizers} codebooks")
for kbps in config.target_bandwidths:
    with torch.no_grad():
        enc = codec.encode(audio, bandwidth=kbps)
    codes = enc.audio_codes  # (chunks, batch, codebooks, frames)
    print(f"  {kbps:>4} kbps: audio_codes {tuple(codes.shape)} = {codes.shape[2]} codebooks x {codes.shape[3]} frames")
# --8<-- [end:encodec]

# --8<-- [start:rvq]
from genai_guide.audio_video import (
    num_codebooks_for_bandwidth,
    residual_vector_dequantize,
    residual_vector_quantize,
)

with torch.no_grad():
    frames = codec.encoder(audio)  # (batch, dim, frames): the encoder's continuous latents
    codebooks = torch.stack([layer.codebook.embed for layer in codec.quantizer.layers])  # (n_q, 16, dim)
    ours = residual_vector_quantize(frames.transpose(1, 2), codebooks)  # (n_q, batch, frames)
    enc = codec.encode(audio, bandwidth=8.0)
    wave = codec.decode(enc.audio_codes, enc.audio_scales).audio_values  # codes -> waveform
assert torch.equal(ours, enc.audio_codes[0].transpose(0, 1))  # the codec's own codes, code for code
print(f"residual_vector_quantize = EncodecModel.encode(bandwidth=8.0): {torch.equal(ours, enc.audio_codes[0].transpose(0, 1))}")
print("first frame's codes, codebook by codebook:", ours[:, 0, 0].tolist(),
      f"| decode: {enc.audio_codes[0].numel()} codes -> {tuple(wave.shape)} samples")
for n in [1, 2, 4]:  # decode with the first n codebooks only
    approx = residual_vector_dequantize(ours[:n], codebooks)  # (batch, frames, dim)
    error = (approx - frames.transpose(1, 2)).norm() / frames.norm()
    print(f"  {n} codebook(s): relative error of the latents {error.item():.3f}")
for kbps in [1.5, 3.0, 6.0, 12.0, 24.0]:  # EnCodec 24 kHz: 75 frames/s, 1024-entry codebooks
    print(f"EnCodec 24 kHz at {kbps:>4} kbps: {num_codebooks_for_bandwidth(kbps, 75, 1024):>2} codebooks")
    assert num_codebooks_for_bandwidth(kbps, 75, 1024) == EncodecConfig().num_quantizers * kbps / 24
# --8<-- [end:rvq]
