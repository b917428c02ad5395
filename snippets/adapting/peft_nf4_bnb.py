"""genai_guide.nf4 against bitsandbytes on CPU: code book, packed bytes, absmax, dequantized weights,
double quantization, and the bits each weight costs."""

# --8<-- [start:exact]
import torch
from bitsandbytes.functional import dequantize_4bit, quantize_4bit

from genai_guide.nf4 import (
    dequantize_nf4,
    double_dequantize,
    double_quantize,
    nf4_code,
    pack_4bit,
    quantize_nf4,
)

torch.manual_seed(0)
w = torch.randn(512, 256) * 0.02  # a weight matrix: 131 072 numbers, 2 048 blocks of 64
packed, state = quantize_4bit(w, blocksize=64, quant_type="nf4")  # bitsandbytes
ours_packed, ours_absmax = quantize_nf4(w, blocksize=64)  # from scratch

print(f"packed: {tuple(packed.shape)} {packed.dtype}, absmax: {tuple(state.absmax.shape)} {state.absmax.dtype}")
print(f"first byte {packed[0, 0].item():#04x} = indices {packed[0, 0].item() >> 4} and {packed[0, 0].item() & 15}")
assert pack_4bit(torch.tensor([packed[0, 0].item() >> 4, packed[0, 0].item() & 15])) == packed[0, 0]
checks = {
    "code book": torch.equal(state.code, nf4_code()),
    "packed bytes": torch.equal(packed.flatten(), ours_packed),
    "absmax": torch.equal(state.absmax, ours_absmax),
    "dequantized": torch.equal(dequantize_4bit(packed, state), dequantize_nf4(ours_packed, ours_absmax, w.shape)),
}
for name, same in checks.items():
    print(f"{name:13s} identical to bitsandbytes: {same}")
    assert same
# --8<-- [end:exact]

# --8<-- [start:double]
packed_dq, state_dq = quantize_4bit(w, blocksize=64, quant_type="nf4", compress_statistics=True)
codes, absmax2, offset = double_quantize(ours_absmax, blocksize=256)  # 2 048 constants -> 8 bits each
print(f"\ndouble quantization: {codes.numel()} absmax codes (uint8), {absmax2.numel()} fp32 constants, "
      f"mean {offset.item():.5f}")
assert torch.equal(offset, state_dq.offset) and torch.equal(absmax2, state_dq.state2.absmax)
differ = (codes != state_dq.absmax).float().mean().item()  # bitsandbytes' CPU kernel may round a
assert differ < 0.01 and (codes.int() - state_dq.absmax.int()).abs().max() <= 1  # near-tie the other way
print("8-bit codes: bitsandbytes' codes, up to near-ties rounded to the neighbouring level")
restored = double_dequantize(codes, absmax2, offset)
rel = ((restored - ours_absmax).abs() / ours_absmax).max().item()
print(f"absmax after the 8-bit round trip: largest relative error {rel:.2%}")
assert rel < 0.01
theirs = double_dequantize(state_dq.absmax, state_dq.state2.absmax, state_dq.offset)  # decode their codes
assert torch.equal(dequantize_nf4(packed_dq.flatten(), theirs, w.shape), dequantize_4bit(packed_dq, state_dq))
print("decoding bitsandbytes' double-quantized state: identical weights")
# --8<-- [end:double]

# --8<-- [start:bits]
n = w.numel()
stored = {
    "bf16": n * 16,
    "NF4, fp32 absmax": ours_packed.numel() * 8 + ours_absmax.numel() * 32,
    "NF4, double quantized": ours_packed.numel() * 8 + codes.numel() * 8 + absmax2.numel() * 32 + 32,
}
print(f"\n{'format':22s} {'bits per weight':>15s}")
for name, bits in stored.items():
    print(f"{name:22s} {bits / n:15.4f}")
print(f"paper: constants 32/64 = {32 / 64} bits -> 8/64 + 32/(64*256) = {8 / 64 + 32 / (64 * 256):.3f} bits")
assert abs(stored["NF4, double quantized"] / n - 4 - 0.127) < 0.001
# --8<-- [end:bits]
