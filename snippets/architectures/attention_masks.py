"""Causal and padding masks: which keys each query may see."""

# --8<-- [start:causal]
import torch
import torch.nn.functional as F

from genai_guide.attention import causal_mask, scaled_dot_product_attention

torch.manual_seed(0)
torch.set_printoptions(precision=3, sci_mode=False)
L, d = 4, 8
x = torch.randn(1, L, d)  # one sequence of 4 tokens

mask = causal_mask(L)  # True where query i may attend to key j, i.e. j <= i
print("causal mask (1 = may attend):\n", mask.long())
out, weights = scaled_dot_product_attention(x, x, x, attn_mask=mask)
print("causal weights:\n", weights[0])
assert torch.all(weights[0].triu(diagonal=1) == 0)  # nothing flows from the future
reference = F.scaled_dot_product_attention(x, x, x, is_causal=True)
assert torch.allclose(out, reference, atol=1e-6)
# --8<-- [end:causal]

# --8<-- [start:padding]
lengths = torch.tensor([4, 2])  # a batch of two sequences; the second is padded to length 4
batch = torch.randn(2, L, d)
is_pad = torch.arange(L)[None, :] >= lengths[:, None]  # (2, 4), True at padding positions
keep = ~is_pad[:, None, :]  # (2, 1, 4): every query may attend to the real keys only
out, weights = scaled_dot_product_attention(batch, batch, batch, attn_mask=keep)
print("padding mask of sequence 2 (1 = real token):", keep[1, 0].int().tolist())
print("weights of sequence 2:\n", weights[1])
assert torch.all(weights[1, :, 2:] == 0)  # padding keys get exactly zero weight
reference = F.scaled_dot_product_attention(batch, batch, batch, attn_mask=keep)
assert torch.allclose(out, reference, atol=1e-6)
print("both masks equal torch's scaled_dot_product_attention: True")
# --8<-- [end:padding]
