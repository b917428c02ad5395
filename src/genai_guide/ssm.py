"""Linear state space models (S4) and Mamba's selective scan, written to be read.

The chapter [State space models and Mamba](../../architectures/state_space_models.md) explains the
ideas. A continuous-time linear state space model (SSM) maps an input signal $u(t)$ to an output
$y(t)$ through a hidden state $x(t) \\in \\mathbb{R}^N$:

$$x'(t) = A x(t) + B u(t), \\qquad y(t) = C x(t) + D u(t).$$

Discretized with a step $\\Delta$ it becomes a recurrence, and when $A, B, C$ do not change over time,
also a convolution. S4 (Gu et al. 2021) discretizes with the bilinear method (`discretize_bilinear`);
diagonal SSMs such as S4D (Gu et al. 2022) and Mamba (Gu and Dao 2023) use the zero-order hold
(`discretize_zoh`), which is elementwise for a diagonal $A$. Mamba's selective scan lets
$\\Delta, B, C$ depend on each input token.

Shapes in this module: one input channel per SSM (single-input single-output, as in S4), state size
$N$; `A` is either a dense `(N, N)` matrix or the diagonal of one, a vector `(N,)`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from genai_guide._checks import check_float_tensor as _check_float_tensor

__all__ = ["discretize_bilinear", "discretize_zoh", "selective_scan", "ssm_convolutional", "ssm_kernel", "ssm_recurrent"]


def _check_system(A: Tensor, B: Tensor, C: Tensor | None = None) -> int:
    """Check the shapes of (A, B, C) and return the state size N."""
    _check_float_tensor("A", A)
    _check_float_tensor("B", B)
    if A.dim() not in (1, 2) or (A.dim() == 2 and A.shape[0] != A.shape[1]):
        raise ValueError(f"A must be a square (N, N) matrix or a diagonal (N,), got shape {tuple(A.shape)}")
    n = A.shape[0]
    if B.shape != (n,):
        raise ValueError(f"B must have shape ({n},) to match A, got {tuple(B.shape)}")
    if C is not None:
        _check_float_tensor("C", C)
        if C.shape != (n,):
            raise ValueError(f"C must have shape ({n},) to match A, got {tuple(C.shape)}")
    return n



def _check_delta(delta: float) -> None:
    if isinstance(delta, bool) or not isinstance(delta, (int, float)) or not delta > 0:
        raise ValueError(f"delta must be a positive number, got {delta!r}")

def discretize_zoh(A: Tensor, B: Tensor, delta: float) -> tuple[Tensor, Tensor]:
    """Zero-order-hold discretization of $x' = Ax + Bu$ with step $\\Delta$ (Mamba, Gu and Dao 2023, eq. 4).

    Holding $u$ constant over each step of length $\\Delta$ gives the exact discrete system
    $x_k = \\bar A x_{k-1} + \\bar B u_k$ with

    $$\\bar A = \\exp(\\Delta A), \\qquad \\bar B = (\\Delta A)^{-1}(\\exp(\\Delta A) - I)\\, \\Delta B.$$

    For a diagonal $A$ (given as its diagonal $a$) both are elementwise:
    $\\bar a = e^{\\Delta a}$ and $\\bar b = (e^{\\Delta a} - 1)/a \\cdot b$ (which tends to $\\Delta b$ as $a \\to 0$).
    This is the discretization of diagonal SSMs such as S4D (Gu et al. 2022) and Mamba; S4 itself
    uses the bilinear method, `discretize_bilinear`.

    Args:
        A: state matrix `(N, N)`, or its diagonal `(N,)`. A dense `A` must be invertible.
        B: input vector `(N,)`.
        delta: the step size $\\Delta > 0$.

    Returns:
        `(A_bar, B_bar)` with the shapes of `A` and `B`.

    Raises:
        TypeError: if `A` or `B` is not a floating tensor.
        ValueError: if the shapes do not match or `delta` is not positive.
    """
    _check_system(A, B)
    _check_delta(delta)
    if A.dim() == 1:  # diagonal: everything is elementwise
        A_bar = torch.exp(delta * A)
        safe = torch.where(A == 0, torch.ones_like(A), A)
        B_bar = torch.where(A == 0, delta * torch.ones_like(A), torch.expm1(delta * A) / safe) * B
        return A_bar, B_bar
    eye = torch.eye(A.shape[0], dtype=A.dtype, device=A.device)
    A_bar = torch.linalg.matrix_exp(delta * A)  # (N, N)
    B_bar = torch.linalg.solve(delta * A, (A_bar - eye) @ (delta * B))  # (ΔA)^{-1} (exp(ΔA) - I) ΔB
    return A_bar, B_bar


def discretize_bilinear(A: Tensor, B: Tensor, delta: float) -> tuple[Tensor, Tensor]:
    """Bilinear (Tustin) discretization of $x' = Ax + Bu$ with step $\\Delta$, as in S4 (Gu et al. 2021).

    The trapezoidal rule over one step gives $x_k = \\bar A x_{k-1} + \\bar B u_k$ with

    $$\\bar A = (I - \\tfrac{\\Delta}{2} A)^{-1} (I + \\tfrac{\\Delta}{2} A), \\qquad
    \\bar B = (I - \\tfrac{\\Delta}{2} A)^{-1}\\, \\Delta B .$$

    It agrees with the zero-order hold to second order in $\\Delta$ and maps every stable eigenvalue
    (negative real part) inside the unit circle. S4 applies it to a diagonal-plus-low-rank $A$ and,
    to build its convolution kernel, never takes powers of $\\bar A$: it evaluates the kernel through a
    Cauchy kernel and the Woodbury identity. Here a dense `A` is solved directly and a diagonal `A` (its diagonal, a vector)
    elementwise: $\\bar a = (1 + \\Delta a/2)/(1 - \\Delta a/2)$, $\\bar b = \\Delta b/(1 - \\Delta a/2)$.

    Args:
        A: state matrix `(N, N)`, or its diagonal `(N,)`; $I - \\tfrac{\\Delta}{2}A$ must be invertible.
        B: input vector `(N,)`.
        delta: the step size $\\Delta > 0$.

    Returns:
        `(A_bar, B_bar)` with the shapes of `A` and `B`.

    Raises:
        TypeError: if `A` or `B` is not a floating tensor.
        ValueError: if the shapes do not match or `delta` is not positive.
    """
    _check_system(A, B)
    _check_delta(delta)
    if A.dim() == 1:  # diagonal: everything is elementwise
        left = 1 - delta / 2 * A  # (N,)
        return (1 + delta / 2 * A) / left, delta * B / left
    eye = torch.eye(A.shape[0], dtype=A.dtype, device=A.device)
    left = eye - delta / 2 * A  # (N, N)
    A_bar = torch.linalg.solve(left, eye + delta / 2 * A)  # (I - dA/2)^{-1} (I + dA/2)
    B_bar = torch.linalg.solve(left, delta * B)  # (I - dA/2)^{-1} dB
    return A_bar, B_bar


def _apply_A(A_bar: Tensor, x: Tensor) -> Tensor:
    """$\\bar A x$ for a dense `(N, N)` or diagonal `(N,)` $\\bar A$ and states `x` of shape `(..., N)`."""
    return x * A_bar if A_bar.dim() == 1 else x @ A_bar.T


def ssm_recurrent(A_bar: Tensor, B_bar: Tensor, C: Tensor, u: Tensor, D: float = 0.0) -> Tensor:
    """Run the discrete SSM as a recurrence, one step per token (like an RNN).

    $$x_k = \\bar A x_{k-1} + \\bar B u_k, \\qquad y_k = C x_k + D u_k, \\qquad x_{-1} = 0.$$

    Args:
        A_bar: discrete state matrix `(N, N)` or its diagonal `(N,)`.
        B_bar: discrete input vector `(N,)`.
        C: output vector `(N,)`.
        u: inputs `(..., L)`: any batch dimensions, then the sequence.
        D: skip connection from input to output.

    Returns:
        Outputs `(..., L)`.

    Raises:
        TypeError: if an argument is not a floating tensor.
        ValueError: if the shapes do not match.
    """
    _check_system(A_bar, B_bar, C)
    _check_float_tensor("u", u)
    if u.dim() < 1 or u.shape[-1] < 1:
        raise ValueError(f"u must have shape (..., L) with L >= 1, got {tuple(u.shape)}")
    x = u.new_zeros(*u.shape[:-1], A_bar.shape[0])  # (..., N)
    ys = []
    for k in range(u.shape[-1]):
        x = _apply_A(A_bar, x) + B_bar * u[..., k, None]  # (..., N)
        ys.append(x @ C + D * u[..., k])  # (...,)
    return torch.stack(ys, dim=-1)  # (..., L)


def ssm_kernel(A_bar: Tensor, B_bar: Tensor, C: Tensor, length: int) -> Tensor:
    """The SSM convolution kernel $\\bar K = (C\\bar B, C\\bar A\\bar B, \\dots, C\\bar A^{L-1}\\bar B)$ (S4, eq. 5).

    Args:
        A_bar: discrete state matrix `(N, N)` or its diagonal `(N,)`.
        B_bar: discrete input vector `(N,)`.
        C: output vector `(N,)`.
        length: the kernel length $L$.

    Returns:
        The kernel `(L,)`.

    Raises:
        ValueError: if the shapes do not match or `length` is not a positive int.
    """
    _check_system(A_bar, B_bar, C)
    if isinstance(length, bool) or not isinstance(length, int) or length < 1:
        raise ValueError(f"length must be a positive int, got {length!r}")
    terms, v = [], B_bar  # v = A_bar^k B_bar
    for _ in range(length):
        terms.append(C @ v)
        v = _apply_A(A_bar, v)
    return torch.stack(terms)


def ssm_convolutional(A_bar: Tensor, B_bar: Tensor, C: Tensor, u: Tensor, D: float = 0.0) -> Tensor:
    """Run the same SSM as one causal convolution $y = \\bar K * u$ (S4, Gu et al. 2021, eq. 4-5).

    $$y_k = \\sum_{j=0}^{k} \\bar K_j\\, u_{k-j} + D u_k .$$

    The convolution is written as a product with a lower-triangular (Toeplitz) matrix so it reads like
    the formula; S4 computes it with an FFT in $O(L \\log L)$.

    Args:
        A_bar: discrete state matrix `(N, N)` or its diagonal `(N,)`.
        B_bar: discrete input vector `(N,)`.
        C: output vector `(N,)`.
        u: inputs `(..., L)`.
        D: skip connection from input to output.

    Returns:
        Outputs `(..., L)`, equal to `ssm_recurrent` up to rounding.

    Raises:
        TypeError: if an argument is not a floating tensor.
        ValueError: if the shapes do not match.
    """
    _check_float_tensor("u", u)
    if u.dim() < 1 or u.shape[-1] < 1:
        raise ValueError(f"u must have shape (..., L) with L >= 1, got {tuple(u.shape)}")
    L = u.shape[-1]
    K = ssm_kernel(A_bar, B_bar, C, L)  # (L,)
    idx = torch.arange(L, device=u.device)
    lag = idx[:, None] - idx[None, :]  # lag[k, j] = k - j
    T = torch.where(lag >= 0, K[lag.clamp(min=0)], K.new_zeros(()))  # (L, L), T[k, j] = K[k - j]
    return u @ T.T + D * u


def selective_scan(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Mamba's selective SSM (S6, Gu and Dao 2023, Algorithm 2): an SSM whose $\\Delta, B, C$ change per token.

    Each of the `d` channels has its own diagonal SSM of state size `N`. At step $t$, channel $c$:

    $$h_t = \\exp(\\Delta_t A) \\odot h_{t-1} + \\Delta_t B_t\\, u_t, \\qquad y_t = C_t \\cdot h_t + D u_t .$$

    $A$ is discretized by zero-order hold; $\\bar B_t = \\Delta_t B_t$ is the simpler (Euler) form used by
    the reference implementation and by `transformers`' port. Because $\\Delta_t, B_t, C_t$ depend on the
    input there is no fixed convolution kernel, so the recurrence is computed as a scan over time
    (sequentially here; Mamba runs a parallel scan fused in one GPU kernel, section 3.3 of the paper).

    Args:
        u: inputs `(batch, L, d)`.
        delta: positive step sizes `(batch, L, d)`, one per token and channel.
        A: diagonal state matrices `(d, N)`, usually negative so that $\\exp(\\Delta A) < 1$.
        B: input matrices `(batch, L, N)`, one per token, shared by the channels.
        C: output matrices `(batch, L, N)`, one per token, shared by the channels.
        D: optional skip weights `(d,)`.

    Returns:
        `(y, h)`: outputs `(batch, L, d)` and the final state `(batch, d, N)`, the only thing that
        must be kept to continue the sequence.

    Raises:
        TypeError: if an argument is not a floating tensor.
        ValueError: if the shapes do not match or `delta` is not positive.
    """
    for name, t in (("u", u), ("delta", delta), ("A", A), ("B", B), ("C", C)):
        _check_float_tensor(name, t)
    if u.dim() != 3:
        raise ValueError(f"u must have shape (batch, L, d), got {tuple(u.shape)}")
    batch, L, d = u.shape
    if delta.shape != u.shape:
        raise ValueError(f"delta must have the shape of u {tuple(u.shape)}, got {tuple(delta.shape)}")
    if not bool((delta > 0).all()):
        raise ValueError("delta must be positive everywhere")
    if A.dim() != 2 or A.shape[0] != d:
        raise ValueError(f"A must have shape (d={d}, N), got {tuple(A.shape)}")
    N = A.shape[1]
    for name, t in (("B", B), ("C", C)):
        if t.shape != (batch, L, N):
            raise ValueError(f"{name} must have shape (batch, L, N) = {(batch, L, N)}, got {tuple(t.shape)}")
    if D is not None:
        _check_float_tensor("D", D)
        if D.shape != (d,):
            raise ValueError(f"D must have shape (d={d},), got {tuple(D.shape)}")

    h = u.new_zeros(batch, d, N)
    ys = []
    for t in range(L):
        A_bar = torch.exp(delta[:, t, :, None] * A)  # (batch, d, N)
        Bu = delta[:, t, :, None] * B[:, t, None, :] * u[:, t, :, None]  # (batch, d, N)
        h = A_bar * h + Bu
        ys.append((h * C[:, t, None, :]).sum(-1))  # (batch, d)
    y = torch.stack(ys, dim=1)  # (batch, L, d)
    if D is not None:
        y = y + D * u
    return y, h
