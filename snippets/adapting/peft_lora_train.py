"""Pre-train a tiny GPT on a story, then teach it the story backwards with LoRA and with QLoRA.

The base weights never change (asserted); removing the adapter gives back the pre-trained model.
"""

# --8<-- [start:pretrain]
import copy

import torch
import torch.nn.functional as F

from genai_guide.gpt import GPT, GPTConfig
from genai_guide.lora import count_parameters, inject_lora, merge_lora, unload_lora
from genai_guide.nf4 import quantize_linears
from genai_guide.texts import read_text

torch.set_num_threads(1)  # the same numbers on every machine, and no slowdown on a busy CPU
torch.manual_seed(0)
text = read_text("harbour")
chars = sorted(set(text))  # one token per character
story = torch.tensor([chars.index(c) for c in text])
backwards = story.flip(0)  # the new task: the same story, read from the end
T, B = 32, 16  # context and batch size


def loss_on(model: torch.nn.Module, data: torch.Tensor) -> float:
    """Mean next-character loss over the whole text, cut into windows of T + 1."""
    windows = data[: len(data) // (T + 1) * (T + 1)].view(-1, T + 1)
    with torch.no_grad():
        logits = model(windows[:, :-1])
        return F.cross_entropy(logits.flatten(0, 1), windows[:, 1:].flatten()).item()


def train(model: torch.nn.Module, data: torch.Tensor, steps: int, lr: float) -> None:
    trainable = [p for p in model.parameters() if p.requires_grad]  # frozen weights are left out
    optimizer = torch.optim.Adam(trainable, lr=lr)
    for _ in range(steps):
        starts = torch.randint(0, len(data) - T - 1, (B,))
        x = torch.stack([data[s : s + T] for s in starts])  # (B, T)
        y = torch.stack([data[s + 1 : s + T + 1] for s in starts])  # (B, T), shifted by one
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


base = GPT(GPTConfig(vocab_size=len(chars), context_length=T, d_model=64, n_layers=2, n_heads=4))
train(base, story, steps=100, lr=3e-3)  # "pre-training": every weight learns the story
print(f"pre-trained base: loss {loss_on(base, story):.2f} on the story, {loss_on(base, backwards):.2f} backwards")
# --8<-- [end:pretrain]

# --8<-- [start:lora]
model = copy.deepcopy(base)
before = {name: p.detach().clone() for name, p in model.named_parameters()}
names = inject_lora(model, ["qkv", "proj", "fc"], r=8, alpha=16)  # every linear layer of both blocks
trainable, total = count_parameters(model)
print(f"LoRA on {len(names)} layers: {trainable:,} trainable of {total:,} parameters ({trainable / total:.1%})")
start = loss_on(model, backwards)
train(model, backwards, steps=100, lr=1e-2)
end = loss_on(model, backwards)
print(f"LoRA: backwards loss {start:.2f} -> {end:.2f}")
assert end < start - 1.0
for name, p in model.named_parameters():
    if not p.requires_grad:  # every frozen weight is bit-for-bit what it was
        assert torch.equal(p, before[name.replace(".base.", ".")]), name

merged = merge_lora(copy.deepcopy(model))  # one plain GPT again, with W0 + (alpha/r) BA inside
assert abs(loss_on(merged, backwards) - end) < 1e-4
unload_lora(model)  # drop the adapters: the pre-trained model is back, nothing forgotten
assert all(torch.equal(p, before[name]) for name, p in model.named_parameters())
print(f"adapters removed: story {loss_on(model, story):.2f}, backwards {loss_on(model, backwards):.2f} (the base again)")
# --8<-- [end:lora]

# --8<-- [start:qlora]
qmodel = copy.deepcopy(base)
quantized = quantize_linears(qmodel, blocksize=64, double_quant=True)  # frozen NF4 base weights
print(f"\nNF4 base (QLoRA): story {loss_on(qmodel, story):.2f}, backwards {loss_on(qmodel, backwards):.2f}")
nf4_bytes = sum(qmodel.get_submodule(n).storage_bytes() for n in quantized)
fp32_bytes = sum(base.get_submodule(n).weight.numel() * 4 for n in quantized)
weights = sum(base.get_submodule(n).weight.numel() for n in quantized)
print(f"its linear weights: {nf4_bytes:,} bytes instead of {fp32_bytes:,} in fp32 "
      f"({8 * nf4_bytes / weights:.3f} bits per weight)")
inject_lora(qmodel, ["qkv", "proj", "fc"], r=8, alpha=16)
assert count_parameters(qmodel)[0] == trainable  # the same adapters as LoRA
start = loss_on(qmodel, backwards)
train(qmodel, backwards, steps=100, lr=1e-2)
end = loss_on(qmodel, backwards)
print(f"QLoRA: backwards loss {start:.2f} -> {end:.2f}")
assert end < start - 1.0
assert all(not p.requires_grad for n, p in qmodel.named_parameters() if "lora_" not in n)
# --8<-- [end:qlora]
