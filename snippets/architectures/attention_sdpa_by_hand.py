"""Scaled dot-product attention by hand on three tokens, checked against PyTorch."""

# --8<-- [start:by-hand]
import torch

torch.manual_seed(0)
torch.set_printoptions(precision=3, sci_mode=False)
L, d_k = 3, 4  # three tokens, each query/key/value vector has 4 numbers
Q = torch.randn(L, d_k)  # what each token is looking for
K = torch.randn(L, d_k)  # what each token offers to be found by
V = torch.randn(L, d_k)  # what each token hands over when attended to

scores = Q @ K.T / d_k**0.5  # (3, 3): query i against key j, scaled by sqrt(d_k)
weights = scores.softmax(dim=-1)  # (3, 3): each row is a probability distribution
out = weights @ V  # (3, 4): row i is a weighted average of the rows of V

print("scores:\n", scores)
print("weights:\n", weights)
print("row sums:", weights.sum(dim=-1))
# --8<-- [end:by-hand]

# --8<-- [start:check]
import torch.nn.functional as F

from genai_guide.attention import scaled_dot_product_attention

ours, our_weights = scaled_dot_product_attention(Q, K, V)
reference = F.scaled_dot_product_attention(Q, K, V)  # 2-D inputs: PyTorch's unfused math path
assert torch.allclose(our_weights, weights)
assert torch.allclose(ours, reference, atol=1e-6), (ours - reference).abs().max()
print("output:\n", ours)
print("equals torch's scaled_dot_product_attention:", torch.allclose(ours, reference, atol=1e-6))
# --8<-- [end:check]
