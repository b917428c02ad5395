"""The feed-forward network and its activations: ReLU, GELU (exact and tanh), SwiGLU."""

# --8<-- [start:activations]
import torch
import torch.nn.functional as F

from genai_guide.block import gelu, relu

x = torch.tensor([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0])
print("x          ", x.tolist())
print("ReLU       ", [round(v, 4) for v in relu(x).tolist()])
print("GELU (erf) ", [round(v, 4) for v in gelu(x).tolist()])
print("GELU (tanh)", [round(v, 4) for v in gelu(x, approximate="tanh").tolist()])

grid = torch.linspace(-6, 6, 12001, dtype=torch.float64)  # float64: see the gap, not the rounding
gap = (gelu(grid) - gelu(grid, approximate="tanh")).abs()
print(f"largest |erf form - tanh form| on [-6, 6]: {gap.max():.1e} at x = ±{abs(grid[gap.argmax()]):.2f}")
assert torch.allclose(gelu(grid), F.gelu(grid), atol=1e-12, rtol=0)
assert torch.allclose(gelu(grid, approximate="tanh"), F.gelu(grid, approximate="tanh"), atol=1e-12, rtol=0)
# --8<-- [end:activations]

# --8<-- [start:ffn]
from genai_guide.block import FeedForward

torch.manual_seed(0)
d_model = 16
ffn = FeedForward(d_model, activation="gelu_tanh")  # d_ff = 4 * d_model = 64, GPT-2's activation
tokens = torch.randn(2, 5, d_model)  # (batch, seq, d_model)
out = ffn(tokens)
one_at_a_time = torch.stack([ffn(tokens[:, i]) for i in range(5)], dim=1)  # each position alone
n_params = sum(p.numel() for p in ffn.parameters())
assert torch.allclose(out, one_at_a_time, atol=1e-6)  # position-wise: no position sees another
assert n_params == 8 * d_model**2 + 5 * d_model
print("FFN:", tuple(tokens.shape), "->", tuple(ffn.w1(tokens).shape), "->", tuple(out.shape))
print("FFN parameters: 8 d^2 + 5 d =", n_params)
# --8<-- [end:ffn]

# --8<-- [start:swiglu]
from transformers import LlamaConfig
from transformers.models.llama.modeling_llama import LlamaMLP

from genai_guide.block import SwiGLUFeedForward

d_model = 48
d_ff = 2 * 4 * d_model // 3  # LLaMA's 2/3 of 4d: 128, so that 3 matrices cost what 2 did
config = LlamaConfig(hidden_size=d_model, intermediate_size=d_ff, hidden_act="silu", num_attention_heads=4,
                     num_key_value_heads=4, vocab_size=32, bos_token_id=0, eos_token_id=1)
reference = LlamaMLP(config)  # gate_proj, up_proj, down_proj, no biases
swiglu = SwiGLUFeedForward(d_model, d_ff)
swiglu.load_state_dict(reference.state_dict())  # same names and shapes: loads as is

tokens = torch.randn(2, 5, d_model)
diff = (swiglu(tokens) - reference(tokens)).abs().max().item()
n_swiglu = sum(p.numel() for p in swiglu.parameters())
assert diff < 1e-6 and n_swiglu == 3 * d_model * d_ff == 8 * d_model**2
print("max |ours - LlamaMLP| < 1e-6:", diff < 1e-6)
print(f"SwiGLU parameters (d_ff = {d_ff}): {n_swiglu}; a ReLU/GELU FFN with d_ff = {4 * d_model}:",
      sum(p.numel() for p in FeedForward(d_model, bias=False).parameters()))
# --8<-- [end:swiglu]
