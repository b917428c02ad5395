"""Rotary position embedding: rotate queries and keys by position, checked against transformers."""

# --8<-- [start:rotate]
import torch

from genai_guide.positions import apply_rope, rope_frequencies, rope_rotate

torch.manual_seed(0)
torch.set_printoptions(precision=3, sci_mode=False)
head_dim = 8
print("theta_i = 10000^(-2i/d):", rope_frequencies(head_dim))
e0 = torch.zeros(head_dim)
e0[0] = 1.0  # a unit vector in dimension 0, which pairs with dimension 4 (= 0 + d/2)
rotated = rope_rotate(e0.expand(4, head_dim), torch.arange(4))  # the same vector at positions 0..3
print("e0 rotated to positions 0-3:\n", rotated)  # (cos m, sin m) in dimensions 0 and 4
m = torch.arange(4.0)  # theta_0 = 1, so the angle at position m is m radians
assert torch.allclose(rotated[:, 0], m.cos()) and torch.allclose(rotated[:, 4], m.sin())
# --8<-- [end:rotate]

# --8<-- [start:check]
from transformers import LlamaConfig
from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding, apply_rotary_pos_emb

batch, heads, seq = 2, 4, 6
config = LlamaConfig(hidden_size=heads * head_dim, num_attention_heads=heads,
                     rope_parameters={"rope_type": "default", "rope_theta": 10000.0})
q, k = torch.randn(batch, heads, seq, head_dim), torch.randn(batch, heads, seq, head_dim)
position_ids = torch.arange(seq) + torch.tensor([[0], [100]])  # (2, 6): row 2 starts at 100
cos, sin = LlamaRotaryEmbedding(config)(q, position_ids)  # (batch, seq, head_dim) each
ref_q, ref_k = apply_rotary_pos_emb(q, k, cos, sin)

ours_q, ours_k = apply_rope(q, k, position_ids)
err = max((ours_q - ref_q).abs().max().item(), (ours_k - ref_k).abs().max().item())
assert err <= 1e-6, err
print("equal to LlamaRotaryEmbedding + apply_rotary_pos_emb within 1e-6:", err <= 1e-6)
assert torch.allclose(ours_q.norm(dim=-1), q.norm(dim=-1), atol=1e-5)  # rotations keep lengths
print("norms kept:", torch.allclose(ours_q.norm(dim=-1), q.norm(dim=-1), atol=1e-5))
# --8<-- [end:check]

# --8<-- [start:relative]
q1, k1 = torch.randn(head_dim), torch.randn(head_dim)  # one query and one key vector ...
L = 6
qs = rope_rotate(q1.expand(L, head_dim), torch.arange(L))  # ... placed at every position 0..5
ks = rope_rotate(k1.expand(L, head_dim), torch.arange(L))
scores = qs @ ks.T  # scores[m, n] = (R_m q) . (R_n k)
print("scores[m, n]:\n", scores)


def score(m: int, n: int) -> float:
    """q1 at position m against k1 at position n."""
    rq = rope_rotate(q1[None], torch.tensor([m]))[0]
    rk = rope_rotate(k1[None], torch.tensor([n]))[0]
    return (rq @ rk).item()


for m, n in [(0, 3), (5, 1), (2, 2)]:
    for shift in (7, 1000):
        assert abs(score(m, n) - score(m + shift, n + shift)) < 1e-4
print(f"score(0, 3) = {score(0, 3):.3f}, score(7, 10) = {score(7, 10):.3f}, "
      f"score(1000, 1003) = {score(1000, 1003):.3f}")
# --8<-- [end:relative]
