"""Why attention divides by sqrt(d_k): dot products grow with the head size and saturate softmax."""

import torch

torch.manual_seed(0)
n_pairs, n_keys = 20_000, 16
print(" d_k | std(q.k) | sqrt(d_k) | std(q.k/sqrt(d_k)) | max weight raw | max weight scaled")
for d_k in (4, 16, 64, 256, 1024):
    q = torch.randn(n_pairs, d_k)  # components ~ N(0, 1), as after a normalised layer
    k = torch.randn(n_pairs, d_k)
    dots = (q * k).sum(dim=-1)  # variance of a sum of d_k unit-variance products = d_k
    scaled = dots / d_k**0.5

    # Softmax over 16 keys: how much of the weight does the top key take, on average?
    rows = torch.randn(2_000, n_keys, d_k) @ torch.randn(2_000, d_k, 1)  # (2000, 16, 1) scores
    raw_max = rows.squeeze(-1).softmax(dim=-1).max(dim=-1).values.mean()
    scaled_max = (rows.squeeze(-1) / d_k**0.5).softmax(dim=-1).max(dim=-1).values.mean()

    assert abs(dots.std() / d_k**0.5 - 1) < 0.05  # std(q.k) is sqrt(d_k) ...
    assert abs(scaled.std() - 1) < 0.05  # ... so dividing by sqrt(d_k) brings it back to 1
    print(
        f"{d_k:4d} | {dots.std():8.1f} | {d_k**0.5:9.1f} | {scaled.std():18.2f} |"
        f" {raw_max:14.2f} | {scaled_max:17.2f}"
    )

assert raw_max > 0.9 and scaled_max < 0.6  # unscaled, softmax is almost one-hot at d_k = 1024
