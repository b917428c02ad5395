"""The book's GPT and transformers' GPT2LMHeadModel are the same network: move the weights, compare."""

# --8<-- [start:build]
import torch

from genai_guide.gpt import GPT, GPTConfig, generate_greedy

torch.manual_seed(0)
config = GPTConfig(vocab_size=50, context_length=32, d_model=64, n_layers=2, n_heads=4)
model = GPT(config).eval()
print(f"{sum(p.numel() for p in model.parameters()):,} parameters")

ids = torch.randint(0, config.vocab_size, (2, 32))  # a batch of 2 random sequences
logits = model(ids)
print("ids", tuple(ids.shape), "-> logits", tuple(logits.shape))
# --8<-- [end:build]

# --8<-- [start:export]
gpt2 = model.to_gpt2()  # a transformers.GPT2LMHeadModel holding the same weights, in eval mode
print(f"{'ours:  blocks.0.attn.qkv.weight':44}{tuple(model.blocks[0].attn.qkv.weight.shape)}")  # nn.Linear
print(f"{'GPT-2: transformer.h.0.attn.c_attn.weight':44}{tuple(gpt2.transformer.h[0].attn.c_attn.weight.shape)}")  # Conv1D
print(f"GPT-2 parameters: {sum(p.numel() for p in gpt2.parameters()):,}")

with torch.no_grad():
    theirs = gpt2(ids).logits
    torch.testing.assert_close(model(ids), theirs, atol=1e-5, rtol=0)
print("same logits as GPT2LMHeadModel (within 1e-5):", True)

back = GPT.from_gpt2(gpt2).eval()  # and the way back
with torch.no_grad():
    assert torch.equal(back(ids), model(ids))
print("loaded back with GPT.from_gpt2: identical logits")

prompt = ids[:1, :8]
ours = generate_greedy(model, prompt, max_new_tokens=12)
hf = gpt2.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=12, do_sample=False)
assert torch.equal(ours, hf)
print("greedy continuation, ours = generate():", ours[0, 8:].tolist())
# --8<-- [end:export]
