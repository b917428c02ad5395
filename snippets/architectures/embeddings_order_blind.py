"""Self-attention without positions is order-blind: permuting the input permutes the output."""

# --8<-- [start:blind]
import torch
import torch.nn.functional as F

torch.manual_seed(0)
torch.set_printoptions(precision=3, sci_mode=False)
d = 8
vocab = {"dog": 0, "bites": 1, "man": 2}
embed = torch.nn.Embedding(len(vocab), d)
w_q, w_k, w_v = (torch.nn.Linear(d, d, bias=False) for _ in range(3))


def self_attention(x: torch.Tensor, **kwargs) -> torch.Tensor:
    """One head of self-attention over x (seq, d), with PyTorch's kernel."""
    return F.scaled_dot_product_attention(w_q(x), w_k(x), w_v(x), **kwargs)


def encode(sentence: str) -> torch.Tensor:
    return embed(torch.tensor([vocab[w] for w in sentence.split()]))  # (seq, d)


with torch.no_grad():
    a = self_attention(encode("dog bites man"))  # (3, d)
    b = self_attention(encode("man bites dog"))  # the same tokens, positions 0 and 2 swapped
print("'dog' in 'dog bites man':", a[0])
print("'dog' in 'man bites dog':", b[2])
assert torch.allclose(a[0], b[2], atol=1e-6)  # the model cannot tell the two sentences apart

x = torch.randn(10, d)  # any sequence, any permutation: attention(P x) == P attention(x)
perm = torch.randperm(10)
with torch.no_grad():
    assert torch.allclose(self_attention(x[perm]), self_attention(x)[perm], atol=1e-6)
print("permuting 10 inputs permutes the outputs the same way: True")
# --8<-- [end:blind]

# --8<-- [start:fixed]
from genai_guide.positions import sinusoidal_encoding

pe = sinusoidal_encoding(3, d)  # one fixed vector per position, added to the token embeddings
with torch.no_grad():
    a = self_attention(encode("dog bites man") + pe)
    b = self_attention(encode("man bites dog") + pe)
    causal_a = self_attention(encode("dog bites man"), is_causal=True)
    causal_b = self_attention(encode("man bites dog"), is_causal=True)
gap, causal_gap = (a[0] - b[2]).abs().max(), (causal_a[0] - causal_b[2]).abs().max()
print(f"with positions added, 'dog' differs by up to {gap:.3f}")
print(f"with a causal mask and no positions, by up to {causal_gap:.3f}")
assert gap > 1e-3 and causal_gap > 1e-3
# --8<-- [end:fixed]
