"""The Fréchet distance between two Gaussians, the formula behind FID, checked against SciPy's matrix
square root and against closed forms."""

# --8<-- [start:frechet]
import numpy as np
import scipy.linalg
import torch

from genai_guide.diffusion import feature_statistics, frechet_distance


def scipy_reference(mu1, s1, mu2, s2) -> float:
    """FID's reference formula (Heusel et al. 2017, as pytorch-fid computes it): sqrtm of the product."""
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * scipy.linalg.sqrtm(s1 @ s2).real))


rng = np.random.default_rng(0)
d = 16
a, b = rng.standard_normal((d, d)), rng.standard_normal((d, d))
mu1, mu2, s1, s2 = rng.standard_normal(d), rng.standard_normal(d), a @ a.T / d, b @ b.T / d  # two random Gaussians
ours = frechet_distance(*map(torch.from_numpy, (mu1, s1, mu2, s2)))
print(f"random Gaussians:        ours {ours:.6f}  scipy {scipy_reference(mu1, s1, mu2, s2):.6f}")
assert abs(ours - scipy_reference(mu1, s1, mu2, s2)) < 1e-9

same = frechet_distance(*map(torch.from_numpy, (mu1, s1, mu1, s1)))
print(f"a Gaussian with itself:  {same:.6f}")
assert same < 1e-9

v1, v2 = rng.uniform(0.5, 2, d), rng.uniform(0.5, 2, d)  # diagonal covariances: sum (sqrt v1 - sqrt v2)^2
closed = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(v1) - np.sqrt(v2)) ** 2).sum()
diagonal = frechet_distance(*map(torch.from_numpy, (mu1, np.diag(v1), mu2, np.diag(v2))))
print(f"diagonal covariances:    ours {diagonal:.6f}  closed form {closed:.6f}")
assert abs(diagonal - closed) < 1e-9

features = torch.from_numpy(rng.standard_normal((5000, 4)) * [1, 2, 3, 4] + 1)  # samples of N(1, diag(1, 4, 9, 16))
estimate = frechet_distance(*feature_statistics(features), torch.ones(4, dtype=torch.float64),
                            torch.diag(torch.tensor([1.0, 4, 9, 16], dtype=torch.float64)))
print(f"5000 samples vs their own distribution: {estimate:.3f} (> 0: estimated statistics)")
# --8<-- [end:frechet]
