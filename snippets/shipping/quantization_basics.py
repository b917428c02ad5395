"""Absmax and zero-point quantization of a small tensor: the integers, the scale, the zero point and the
round trip, checked against PyTorch's quantized tensors; then why zero-point suits one-sided data."""

# --8<-- [start:absmax]
import warnings

import torch

from genai_guide.quantization import absmax_quantize, dequantize, zeropoint_quantize

x = torch.tensor([-1.1, -0.5, 0.0, 0.3, 0.9, 2.4])  # float32, like a weight tensor


def row(label: str, values: torch.Tensor) -> None:
    """Print a label and a row of numbers: reals with 4 decimals, signed or unsigned integers."""
    fmt = {torch.uint8: "{:8d}", torch.int8: "{:+8d}"}.get(values.dtype, "{:+8.4f}")
    print(f"{label:17s}" + "".join(fmt.format(v) for v in values.tolist()))


q, scale = absmax_quantize(x, bits=8)  # scale = max|x| / 127, q = round(x / scale)
x_hat = dequantize(q, scale)  # scale * q
row("x", x)
print(f"absmax int8, scale {scale.item():.7f}")
row("  q", q)
row("  scale * q", x_hat)
error = (x_hat - x).abs().max().item()
print(f"  largest error {error:.5f} <= scale / 2 = {scale.item() / 2:.5f}")
assert error <= scale / 2 and q[2] == 0  # zero stays exactly zero
# --8<-- [end:absmax]

# --8<-- [start:zeropoint]
q8, s8, z8 = zeropoint_quantize(x, bits=8)  # levels 0..255 cover [min(x, 0), max(x, 0)]
x_hat8 = dequantize(q8, s8, z8)  # scale * (q - zero point)
print(f"zero-point uint8, scale {s8.item():.7f}, zero point {z8.item()}")
row("  q", q8)
row("  scale * (q - z)", x_hat8)
error8 = (x_hat8 - x).abs().max().item()
print(f"  largest error {error8:.5f} <= scale / 2 = {s8.item() / 2:.5f}")
assert x_hat8[2] == 0 and q8.min() == 0 and q8.max() == 255  # 0 exact; the whole range used

q4, s4 = absmax_quantize(x, bits=4)  # 15 levels -7..7: the rounding becomes visible
print(f"absmax int4, scale {s4.item():.7f}")
row("  q", q4)
row("  scale * q", dequantize(q4, s4))
# --8<-- [end:zeropoint]

# --8<-- [start:torch]
with warnings.catch_warnings():  # torch 2.13 deprecates its quantized dtypes (qint8, quint8)
    warnings.filterwarnings("ignore", message=r"torch\.quantize_per_tensor", category=UserWarning)
    torch_abs = torch.quantize_per_tensor(x, scale.item(), 0, torch.qint8)
    torch_zp = torch.quantize_per_tensor(x, s8.item(), z8.item(), torch.quint8)
assert torch.equal(torch_abs.int_repr(), q) and torch.equal(torch_zp.int_repr(), q8)
print("same integers as torch.quantize_per_tensor (qint8, quint8):",
      torch.equal(torch_zp.int_repr(), q8))
# --8<-- [end:torch]

# --8<-- [start:relu]
torch.manual_seed(0)
h = torch.relu(torch.randn(10_000, dtype=torch.float64))  # one-sided: never negative
q_abs, s_abs = absmax_quantize(h)  # levels -127..127, but only 0..127 are ever used
q_zp, s_zp, z_zp = zeropoint_quantize(h)  # zero point 0: levels 0..255 all cover [0, max]
errors = {}
for name, q_h, h_hat in [("absmax", q_abs, dequantize(q_abs, s_abs)),
                         ("zero-point", q_zp, dequantize(q_zp, s_zp, z_zp))]:
    errors[name] = (h_hat - h).square().mean().item()
    print(f"ReLU outputs, {name:10s}: {q_h.unique().numel():3d} levels used, "
          f"mean squared error {errors[name]:.2e}")
assert 3.5 < errors["absmax"] / errors["zero-point"] < 4.5  # half the step: a quarter of the error
# --8<-- [end:relu]
