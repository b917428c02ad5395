"""Layer normalization and RMSNorm from scratch, equal to PyTorch's and to LLaMA's."""

# --8<-- [start:by-hand]
import torch

from genai_guide.block import LayerNorm, RMSNorm

layer_norm, rms_norm = LayerNorm(4), RMSNorm(4)  # gains 1, bias 0: the bare normalization
x = torch.tensor([[1.0, 2.0, 3.0, 6.0]])  # one token, 4 features: mean 3, RMS 3.54


def show(name: str, t: torch.Tensor) -> None:
    print(f"{name:<15}", [round(v, 3) for v in t[0].tolist()])


show("x", x)
show("LayerNorm(x)", layer_norm(x))  # mean 0, variance 1
show("RMSNorm(x)", rms_norm(x))  # root mean square 1, mean kept
show("LayerNorm(x+10)", layer_norm(x + 10))  # a shift changes nothing...
show("RMSNorm(x+10)", rms_norm(x + 10))  # ...unless the mean is not removed
assert torch.allclose(layer_norm(x + 10), layer_norm(x), atol=1e-5)
assert torch.allclose(layer_norm(3 * x), layer_norm(x), atol=1e-5)  # both ignore the scale
assert torch.allclose(rms_norm(3 * x), rms_norm(x), atol=1e-5)
# --8<-- [end:by-hand]

# --8<-- [start:check]
from transformers.models.llama.modeling_llama import LlamaRMSNorm

torch.manual_seed(0)
d = 32
x = torch.randn(2, 5, d)  # (batch, seq, d)
gain, shift = 1 + 0.1 * torch.randn(d), 0.1 * torch.randn(d)  # learned values, made up

ours_ln, torch_ln = LayerNorm(d, eps=1e-5), torch.nn.LayerNorm(d, eps=1e-5)
ours_rms, torch_rms, llama_rms = RMSNorm(d, eps=1e-6), torch.nn.RMSNorm(d, eps=1e-6), LlamaRMSNorm(d, eps=1e-6)
with torch.no_grad():
    for norm in (ours_ln, torch_ln, ours_rms, torch_rms, llama_rms):
        norm.weight.copy_(gain)
    ours_ln.bias.copy_(shift)
    torch_ln.bias.copy_(shift)

diffs = {
    "torch.nn.LayerNorm": (ours_ln(x) - torch_ln(x)).abs().max().item(),
    "torch.nn.RMSNorm": (ours_rms(x) - torch_rms(x)).abs().max().item(),
    "LlamaRMSNorm": (ours_rms(x) - llama_rms(x)).abs().max().item(),
}
for name, diff in diffs.items():
    assert diff < 1e-6, (name, diff)
    print(f"max |ours - {name}| < 1e-6: {diff < 1e-6}")
print("parameters: LayerNorm", sum(p.numel() for p in ours_ln.parameters()),
      "RMSNorm", sum(p.numel() for p in ours_rms.parameters()))
# --8<-- [end:check]
