"""Factorised space-time attention over video tokens, equal to full attention
(torch's scaled_dot_product_attention) under a block mask; then the Poisson field of PFGM,
checked against two laws of electrostatics: no divergence away from the charges, unit flux far away."""

# --8<-- [start:spacetime]
import torch
import torch.nn.functional as F

from genai_guide.audio_video import factorized_attention, spacetime_mask

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)
T, P = 4, 6  # a clip of 4 frames, each cut into 6 patches: 24 tokens, ordered frame by frame
q, k, v = torch.randn(3, 1, 2, T * P, 8).unbind(0)  # (batch, heads, tokens, head_dim)

for kind in ["space", "time"]:
    mask = spacetime_mask(T, P, kind)  # (24, 24) True = may attend
    ours = factorized_attention(q, k, v, num_frames=T, kind=kind)
    full = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # full attention, masked
    assert torch.allclose(ours, full, rtol=0, atol=1e-12)
    print(f"{kind:>5}: each token sees {int(mask[0].sum())} tokens; factorised = masked full attention: "
          f"{torch.allclose(ours, full, rtol=0, atol=1e-12)}")
print("the space mask, token 0..11 (frames 0 and 1), # = attends:")
for row in spacetime_mask(T, P, "space")[:12, :12]:
    print("  " + "".join("#" if a else "." for a in row.tolist()))

T, H, W = 16, 32, 32  # a 16-frame clip with a 32 x 32 grid of latent patches
N = T * H * W
print(f"scores per head for {T} frames of {H}x{W}: full {N**2:,}, "
      f"space {T * (H * W) ** 2:,} + time {H * W * T**2:,} = {(T * (H * W) ** 2 + H * W * T**2) / N**2:.1%} of full")
# --8<-- [end:spacetime]

# --8<-- [start:pfgm]
from genai_guide.audio_video import poisson_field

N = 2  # 2-D data, seen as charges on the plane z = 0 of a 3-D space
data = torch.randn(50, N)
x = torch.tensor([[0.3, -0.2, 0.5]], requires_grad=True)  # a point above the data (z = 0.5)
jac = torch.autograd.functional.jacobian(lambda p: poisson_field(p, data)[0], x)[:, 0, :]  # (3, 3)
assert abs(jac.trace().item()) < 1e-10
print(f"divergence of E at {x.detach()[0].tolist()} (no charge there) is 0 to 1e-10: {abs(jac.trace().item()) < 1e-10}")
for r in [10.0, 100.0, 1000.0]:  # far away, on the axis z: E looks like one unit charge's field
    far = torch.tensor([[0.0, 0.0, r]])
    E = poisson_field(far, data)[0]
    sphere = 4 * torch.pi  # S_2(1), the area of the unit sphere in 3-D
    print(f"  r = {r:>6}: cos(E, x) = {F.cosine_similarity(E, far[0], dim=0).item():.6f}, "
          f"r^N S_N(1) |E| = {(r**N * sphere * E.norm()).item():.6f}")
# --8<-- [end:pfgm]
