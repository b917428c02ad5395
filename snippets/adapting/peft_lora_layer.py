"""One LoRA layer from scratch: frozen W0 plus (alpha/r) B A, starting as the identity update, then merged."""

# --8<-- [start:layer]
import torch
from torch import nn

from genai_guide.lora import LoRALinear, count_parameters

torch.manual_seed(0)
d, k, r, alpha = 256, 256, 8, 16  # out features, in features, rank, scale numerator
base = nn.Linear(k, d)  # stands in for a pre-trained projection W0 (d x k) with bias b
layer = LoRALinear(base, r=r, alpha=alpha)
trainable, total = count_parameters(layer)
print(f"base layer: {d * k + d:,} parameters, frozen")
print(f"LoRA A ({r}x{k}) + B ({d}x{r}): {trainable:,} trainable = {trainable / (d * k + d):.1%} of the layer")
assert trainable == r * (d + k) and total == d * k + d + r * (d + k)

x = torch.randn(4, k)  # a batch of 4 inputs
assert torch.equal(layer(x), base(x))  # B = 0: training starts exactly at the pre-trained layer
bound = 1 / k**0.5  # Kaiming-uniform with a = sqrt(5), like nn.Linear and peft
print(f"A in [-{bound:.4f}, {bound:.4f}]: {bool(layer.lora_A.abs().max() <= bound)}, B all zero: "
      f"{bool((layer.lora_B == 0).all())}, scale alpha/r = {layer.scaling}")
# --8<-- [end:layer]

# --8<-- [start:merge]
with torch.no_grad():
    layer.lora_B.normal_(std=0.02)  # pretend training moved B away from zero
delta = layer.delta_weight()  # (d, k) = (alpha / r) B A
print(f"rank of the update: {torch.linalg.matrix_rank(delta).item()} (a full {d}x{k} matrix)")

y_adapter = layer(x)  # two small matmuls on top of W0 x
w0 = base.weight.detach().clone()
layer.merge()  # W <- W0 + (alpha / r) B A: one matrix again, no extra cost at inference
y_merged = layer(x)
gap = (y_merged - y_adapter).abs().max().item()  # float32 rounding only
print(f"merged output = adapter output within 1e-5: {gap < 1e-5}")
assert gap < 1e-5
layer.unmerge()  # W <- W - (alpha / r) B A
gap = (base.weight - w0).abs().max().item()
print(f"after unmerge, W = W0 within 1e-6: {gap < 1e-6}")
assert gap < 1e-6
# --8<-- [end:merge]

# --8<-- [start:rslora]
print("\n  r   alpha/r   alpha/sqrt(r)   (alpha = 16)")
for rank in (4, 16, 64, 256):
    plain = LoRALinear(nn.Linear(k, d), r=rank, alpha=16).scaling
    stable = LoRALinear(nn.Linear(k, d), r=rank, alpha=16, use_rslora=True).scaling
    print(f"{rank:3d}   {plain:7.4f}   {stable:13.4f}")
# --8<-- [end:rslora]
