"""genai_guide.ssm against torch.linalg.matrix_exp (Van Loan's block form of the exact ZOH solution) and
scipy.signal.cont2discrete (zero-order hold and bilinear), the recurrent view against the convolutional one
(1e-10 in float64, 1e-5 in float32), and the selective scan against a naive loop and against transformers'
pure-PyTorch Mamba scan (1e-5 in float32), whose cache keeps d_conv inputs per channel."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from genai_guide.ssm import (
    discretize_bilinear,
    discretize_zoh,
    selective_scan,
    ssm_convolutional,
    ssm_kernel,
    ssm_recurrent,
)


def _stable_dense(gen: torch.Generator, n: int) -> torch.Tensor:
    M = torch.randn(n, n, generator=gen, dtype=torch.float64)
    return M - (torch.linalg.matrix_norm(M, ord=2) + 0.5) * torch.eye(n, dtype=torch.float64)  # eigenvalues < 0


@pytest.mark.parametrize("n", [1, 3, 8])
@pytest.mark.parametrize("delta", [0.01, 0.1, 1.0])
def test_zoh_equals_matrix_exp_block_form(n, delta):
    """exp(Δ [[A, B], [0, 0]]) = [[Ā, B̄], [0, 1]]: the exact ZOH solution, computed by torch."""
    gen = torch.Generator().manual_seed(n)
    A, B = _stable_dense(gen, n), torch.randn(n, generator=gen, dtype=torch.float64)
    M = torch.zeros(n + 1, n + 1, dtype=torch.float64)
    M[:n, :n], M[:n, n] = A, B
    E = torch.linalg.matrix_exp(delta * M)
    A_bar, B_bar = discretize_zoh(A, B, delta)
    torch.testing.assert_close(A_bar, E[:n, :n], atol=1e-12, rtol=0)
    torch.testing.assert_close(B_bar, E[:n, n], atol=1e-12, rtol=0)
    a = -torch.rand(n, generator=gen, dtype=torch.float64)  # diagonal = dense diag(a)
    a[0] = 0.0  # the a -> 0 limit
    a_bar, b_bar = discretize_zoh(a, B, delta)
    M = torch.zeros(n + 1, n + 1, dtype=torch.float64)
    M[:n, :n], M[:n, n] = torch.diag(a), B
    E = torch.linalg.matrix_exp(delta * M)
    torch.testing.assert_close(a_bar, torch.diagonal(E[:n, :n]), atol=1e-12, rtol=0)
    torch.testing.assert_close(b_bar, E[:n, n], atol=1e-12, rtol=0)


@pytest.mark.parametrize("n", [1, 4])
@pytest.mark.parametrize("delta", [0.05, 0.5])
def test_discretizations_equal_scipy_cont2discrete(n, delta):
    """S4's bilinear method is scipy's "bilinear" (Tustin); the zero-order hold is its "zoh"."""
    signal = pytest.importorskip("scipy.signal")
    gen = torch.Generator().manual_seed(10 + n)
    A, B = _stable_dense(gen, n), torch.randn(n, generator=gen, dtype=torch.float64)
    a = -torch.rand(n, generator=gen, dtype=torch.float64) - 0.1
    system = lambda M: (M.numpy(), B.numpy()[:, None], B.numpy()[None, :], [[0.0]])
    for method, ours in (("bilinear", discretize_bilinear), ("zoh", discretize_zoh)):
        for M, diagonal in ((A, False), (torch.diag(a), True)):
            Ad, Bd, *_ = signal.cont2discrete(system(M), delta, method=method)
            A_bar, B_bar = ours(torch.diagonal(M).clone() if diagonal else M, B, delta)
            torch.testing.assert_close(torch.diag(A_bar) if diagonal else A_bar, torch.from_numpy(Ad),
                                       atol=1e-12, rtol=0)
            torch.testing.assert_close(B_bar, torch.from_numpy(Bd[:, 0]), atol=1e-12, rtol=0)


def test_bilinear_and_zoh_differ_at_third_order_and_bilinear_stays_stable():
    gen = torch.Generator().manual_seed(3)
    a, b = -torch.rand(6, generator=gen, dtype=torch.float64) - 0.5, torch.randn(6, generator=gen, dtype=torch.float64)
    gaps = []
    for delta in (0.02, 0.01):
        (za, zb), (ba, bb) = discretize_zoh(a, b, delta), discretize_bilinear(a, b, delta)
        gaps.append(torch.cat([za - ba, zb - bb]).abs().max().item())
    assert 7.5 < gaps[0] / gaps[1] < 8.5  # halving the step divides the gap by 2^3
    big = discretize_bilinear(-torch.logspace(-3, 3, 13, dtype=torch.float64), torch.ones(13, dtype=torch.float64), 10.0)[0]
    assert bool((big.abs() < 1).all())  # every stable eigenvalue lands inside the unit circle


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("dense", [False, True])
def test_recurrent_equals_convolutional(seed, dense):
    gen = torch.Generator().manual_seed(seed)
    n, L = 6, 40
    A = _stable_dense(gen, n) if dense else -torch.rand(n, generator=gen, dtype=torch.float64) - 0.1
    B, C = (torch.randn(n, generator=gen, dtype=torch.float64) for _ in range(2))
    u = torch.randn(2, 3, L, generator=gen, dtype=torch.float64)
    A_bar, B_bar = discretize_zoh(A, B, 0.1)
    y_rec, y_conv = ssm_recurrent(A_bar, B_bar, C, u, D=0.3), ssm_convolutional(A_bar, B_bar, C, u, D=0.3)
    torch.testing.assert_close(y_rec, y_conv, atol=1e-10, rtol=0)
    f = lambda t: t.float()
    y32 = ssm_recurrent(f(A_bar), f(B_bar), f(C), f(u), D=0.3)
    torch.testing.assert_close(y32, ssm_convolutional(f(A_bar), f(B_bar), f(C), f(u), D=0.3).float(), atol=1e-5, rtol=0)
    torch.testing.assert_close(y32.double(), y_rec, atol=1e-5, rtol=0)
    # the kernel is the impulse response: feed u = (1, 0, 0, ...)
    impulse = torch.zeros(L, dtype=torch.float64)
    impulse[0] = 1.0
    torch.testing.assert_close(ssm_kernel(A_bar, B_bar, C, L), ssm_recurrent(A_bar, B_bar, C, impulse), atol=1e-12, rtol=0)


def _selective_inputs(gen, batch, L, d, N, dtype=torch.float32):
    u = torch.randn(batch, L, d, generator=gen, dtype=dtype)
    delta = F.softplus(torch.randn(batch, L, d, generator=gen, dtype=dtype))
    A = -torch.rand(d, N, generator=gen, dtype=dtype) * 4 - 0.1
    B, C = (torch.randn(batch, L, N, generator=gen, dtype=dtype) for _ in range(2))
    D = torch.randn(d, generator=gen, dtype=dtype)
    return u, delta, A, B, C, D


@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (2, 7, 3, 4), (3, 16, 5, 8)], ids=str)
def test_selective_scan_equals_naive_loop_and_is_causal(shape):
    gen = torch.Generator().manual_seed(0)
    batch, L, d, N = shape
    u, delta, A, B, C, D = _selective_inputs(gen, *shape)
    y, h = selective_scan(u, delta, A, B, C, D)
    ref = torch.zeros_like(y)
    for b in range(batch):
        for c in range(d):
            s = torch.zeros(N)
            for t in range(L):
                s = torch.exp(delta[b, t, c] * A[c]) * s + delta[b, t, c] * B[b, t] * u[b, t, c]
                ref[b, t, c] = s @ C[b, t] + D[c] * u[b, t, c]
            torch.testing.assert_close(h[b, c], s, atol=1e-5, rtol=0)
    torch.testing.assert_close(y, ref, atol=1e-5, rtol=0)
    t0 = L // 2
    u2, delta2, B2, C2 = u.clone(), delta.clone(), B.clone(), C.clone()
    for t in (u2, delta2, B2, C2):
        t[:, t0:] = t[:, t0:].abs() + 1.0  # change every input from t0 on
    y2, _ = selective_scan(u2, delta2, A, B2, C2, D)
    assert torch.equal(y2[:, :t0], y[:, :t0])


def test_selective_scan_with_fixed_parameters_is_a_time_invariant_ssm():
    """Δ, B, C the same at every step: an LTI SSM with Ā = exp(ΔA), B̄ = ΔB (Mamba's simplified B̄)."""
    gen = torch.Generator().manual_seed(1)
    L, N, dt = 20, 5, 0.3
    a = -torch.rand(N, generator=gen, dtype=torch.float64) - 0.2
    B, C = (torch.randn(N, generator=gen, dtype=torch.float64) for _ in range(2))
    u = torch.randn(2, L, generator=gen, dtype=torch.float64)
    y, _ = selective_scan(u[..., None], torch.full((2, L, 1), dt, dtype=torch.float64), a[None],
                          B.expand(2, L, N), C.expand(2, L, N))
    torch.testing.assert_close(y[..., 0], ssm_convolutional(torch.exp(dt * a), dt * B, C, u), atol=1e-10, rtol=0)


def test_selective_scan_equals_transformers_mamba_scan():
    """transformers' pure-PyTorch Mamba scan, layout (batch, d, L) and B, C as (batch, N, L)."""
    pytest.importorskip("transformers")
    from transformers.models.mamba import modeling_mamba

    ref_scan = getattr(modeling_mamba.mamba_selective_scan, "__wrapped__", modeling_mamba.mamba_selective_scan)
    gen = torch.Generator().manual_seed(2)
    u, delta, A, B, C, D = _selective_inputs(gen, 2, 12, 6, 4)
    y, h = selective_scan(u, delta, A, B, C, D)
    y_ref, h_ref = ref_scan(u.transpose(1, 2), delta.transpose(1, 2), A, B.transpose(1, 2), C.transpose(1, 2),
                            D=D, return_last_state=True)
    torch.testing.assert_close(y, y_ref.transpose(1, 2), atol=1e-5, rtol=0)
    torch.testing.assert_close(h, h_ref, atol=1e-5, rtol=0)


def test_transformers_mamba_cache_keeps_d_conv_inputs_and_the_state():
    """Per layer and sequence, the generation cache holds d_inner x d_conv inputs and d_inner x N states,
    after the prompt and after a decoding step alike (the chapter's memory count relies on it)."""
    transformers = pytest.importorskip("transformers")
    cfg = transformers.MambaConfig(vocab_size=32, hidden_size=8, state_size=3, expand=2, conv_kernel=4,
                                   num_hidden_layers=1, bos_token_id=0, eos_token_id=1, pad_token_id=2)
    torch.manual_seed(0)
    model = transformers.MambaForCausalLM(cfg).eval()
    with torch.no_grad():
        cache = model(torch.randint(0, 32, (2, 7)), use_cache=True).cache
        for _ in range(2):  # the prompt, then one generated token
            assert tuple(cache.get_conv_state(0).shape) == (2, cfg.intermediate_size, cfg.conv_kernel) == (2, 16, 4)
            assert tuple(cache.get_recurrent_state(0).shape) == (2, cfg.intermediate_size, cfg.state_size)
            model(torch.randint(0, 32, (2, 1)), cache=cache, use_cache=True)


def test_bad_inputs_are_rejected_with_the_argument_named():
    A, B, C = -torch.ones(3), torch.ones(3), torch.ones(3)
    with pytest.raises(ValueError, match="delta"):
        discretize_zoh(A, B, 0.0)
    with pytest.raises(ValueError, match="delta"):
        discretize_bilinear(A, B, -1.0)
    with pytest.raises(ValueError, match="B must have shape"):
        discretize_bilinear(A, torch.ones(4), 0.1)
    with pytest.raises(ValueError, match="A must be a square"):
        discretize_zoh(torch.ones(2, 3), B, 0.1)
    with pytest.raises(ValueError, match="B must have shape"):
        discretize_zoh(A, torch.ones(4), 0.1)
    with pytest.raises(TypeError, match="A must have a floating dtype"):
        discretize_zoh(torch.ones(3, dtype=torch.long), B, 0.1)
    with pytest.raises(ValueError, match="C must have shape"):
        ssm_recurrent(A, B, torch.ones(2), torch.ones(5))
    with pytest.raises(TypeError, match="u must be a torch.Tensor"):
        ssm_convolutional(A, B, C, [1.0, 2.0])
    with pytest.raises(ValueError, match="length"):
        ssm_kernel(A, B, C, 0)
    gen = torch.Generator().manual_seed(0)
    u, delta, A2, B2, C2, D2 = _selective_inputs(gen, 2, 5, 3, 4)
    with pytest.raises(ValueError, match="delta must be positive"):
        selective_scan(u, -delta, A2, B2, C2)
    with pytest.raises(ValueError, match="A must have shape"):
        selective_scan(u, delta, A2[:2], B2, C2)
    with pytest.raises(ValueError, match="C must have shape"):
        selective_scan(u, delta, A2, B2, C2[:, :3])
    with pytest.raises(ValueError, match="D must have shape"):
        selective_scan(u, delta, A2, B2, C2, D2[:1])
    with pytest.raises(ValueError, match="u must have shape"):
        selective_scan(u[0], delta[0], A2, B2[0], C2[0])
