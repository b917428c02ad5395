"""A GPT-2 block from scratch: load the weights of transformers' GPT2Block and get the same output."""

# --8<-- [start:load]
import torch
from transformers import GPT2Config
from transformers.models.gpt2.modeling_gpt2 import GPT2Block

from genai_guide.block import DecoderBlock, gpt2_block_parameter_count

torch.manual_seed(0)
config = GPT2Config(n_embd=64, n_head=4, activation_function="gelu_new",  # GPT-2's tanh GELU
                    resid_pdrop=0.0, attn_pdrop=0.0, embd_pdrop=0.0, attn_implementation="eager")
reference = GPT2Block(config, layer_idx=0).eval()  # eval: no dropout
with torch.no_grad():  # GPT-2 starts with weights of std 0.02, which barely change x: use bigger ones
    for p in reference.parameters():
        p.add_(0.1 * torch.randn_like(p))  # matrices std ~0.1, gains near 1, biases near 0

block = DecoderBlock.from_gpt2_block(reference)  # transposes GPT-2's Conv1D weights, splits c_attn
print("GPT2Block attn.c_attn.weight", tuple(reference.attn.c_attn.weight.shape),
      "-> attn.{q,k,v}_proj.weight", tuple(block.attn.q_proj.weight.shape), "each")
print("GPT2Block mlp.c_fc.weight   ", tuple(reference.mlp.c_fc.weight.shape),
      "-> mlp.w1.weight", tuple(block.mlp.w1.weight.shape))
# --8<-- [end:load]

# --8<-- [start:compare]
x = torch.randn(2, 10, 64)  # (batch, seq, d_model)
causal = torch.full((10, 10), float("-inf")).triu(1)  # GPT2Model builds this mask for its blocks
with torch.no_grad():
    expected = reference(x, attention_mask=causal[None, None])  # transformers 5.x returns a tensor
    ours = block(x)
diff = (ours - expected).abs().max().item()
assert (expected - x).abs().max() > 1.0 and diff < 1e-5  # the sublayers matter, and we agree
print("output:", tuple(ours.shape), "| max |ours - GPT2Block| < 1e-5:", diff < 1e-5)

d = config.n_embd
n_params = sum(p.numel() for p in block.parameters())
assert n_params == sum(p.numel() for p in reference.parameters()) == gpt2_block_parameter_count(d)
assert n_params == 12 * d**2 + 13 * d
print(f"parameters: 12 d^2 + 13 d = {n_params} for d = {d}")
print(f"GPT-2 small (d = 768): {gpt2_block_parameter_count(768):,} per block, "
      f"{12 * gpt2_block_parameter_count(768):,} in its 12 blocks")
# --8<-- [end:compare]
