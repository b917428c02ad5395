"""genai_guide.attention against PyTorch: equal within 1e-6 in float32, masks included, on random shapes."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F

from genai_guide.attention import MultiHeadAttention, causal_mask, scaled_dot_product_attention

TOL = dict(atol=1e-6, rtol=0)
SHAPES = [  # (batch dims, L, S, d_k, d_v)
    ((), 1, 1, 1, 1),
    ((2,), 5, 7, 8, 3),
    ((2, 3), 4, 4, 16, 16),
    ((1, 4), 9, 6, 5, 7),
    ((3, 2), 16, 32, 64, 32),
]


def _qkv(gen: torch.Generator, batch, L, S, d_k, d_v):
    return (torch.randn(*batch, L, d_k, generator=gen), torch.randn(*batch, S, d_k, generator=gen),
            torch.randn(*batch, S, d_v, generator=gen))


def _bool_mask(gen, shape):
    mask = torch.rand(*shape, generator=gen) > 0.4
    mask[..., 0] = True  # every query keeps at least one key
    return mask


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_sdpa_equals_torch(shape, seed):
    gen = torch.Generator().manual_seed(seed)
    batch, L, S, d_k, d_v = shape
    q, k, v = _qkv(gen, batch, L, S, d_k, d_v)
    cases = {
        "no mask": {},
        "bool mask": {"attn_mask": _bool_mask(gen, (L, S))},
        "bool mask per batch": {"attn_mask": _bool_mask(gen, (*batch, L, S))},
        "float mask": {"attn_mask": torch.randn(L, S, generator=gen)},
        "causal": {"is_causal": True},
        "custom scale": {"scale": 0.5 / d_k**0.5},
    }
    for name, kwargs in cases.items():
        ours, weights = scaled_dot_product_attention(q, k, v, **kwargs)
        ref = F.scaled_dot_product_attention(q, k, v, **kwargs)
        torch.testing.assert_close(ours, ref, **TOL, msg=lambda m, name=name: f"{name}: {m}")
        torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:-1]), atol=1e-6, rtol=0)


def test_sdpa_equals_torch_in_float64_for_large_scores():
    """With large scores (scale 0.3 at d_k = 64, std 2.4) both float32 kernels round ~1.5e-6 away from the
    exact value, so the algorithm is compared where rounding cannot hide a difference: float64."""
    gen = torch.Generator().manual_seed(0)
    q, k, v = (t.double() for t in _qkv(gen, (3, 2), 16, 32, 64, 32))
    mask = _bool_mask(gen, (16, 32))
    for kwargs in ({"scale": 0.3}, {"scale": 0.3, "attn_mask": mask}, {"scale": 2.0, "is_causal": True}):
        ours, _ = scaled_dot_product_attention(q, k, v, **kwargs)
        torch.testing.assert_close(ours, F.scaled_dot_product_attention(q, k, v, **kwargs), atol=1e-12, rtol=0)


def test_sdpa_weights_and_fully_masked_rows():
    q, k, v = torch.randn(2, 3, 4), torch.randn(2, 5, 4), torch.randn(2, 5, 2)
    mask = torch.ones(3, 5, dtype=torch.bool)
    mask[1] = False  # query 1 may attend to nothing
    ours, weights = scaled_dot_product_attention(q, k, v, attn_mask=mask)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    torch.testing.assert_close(ours, ref, **TOL)
    assert torch.all(weights[:, 1] == 0) and not torch.isnan(ours).any()
    expected = torch.softmax(q @ k.transpose(-2, -1) / 2.0, dim=-1)
    torch.testing.assert_close(weights[:, 0], expected[:, 0], **TOL)


def test_sdpa_gradients_match_torch():
    gen = torch.Generator().manual_seed(0)
    tensors = [t.requires_grad_() for t in _qkv(gen, (2,), 4, 6, 8, 8)]
    ours, _ = scaled_dot_product_attention(*tensors, is_causal=True)
    ours.square().sum().backward()
    ours_grads = [t.grad.clone() for t in tensors]
    for t in tensors:
        t.grad = None
    F.scaled_dot_product_attention(*tensors, is_causal=True).square().sum().backward()
    for mine, ref in zip(ours_grads, (t.grad for t in tensors)):
        torch.testing.assert_close(mine, ref, atol=1e-5, rtol=1e-5)


def test_fully_masked_rows_with_a_float_mask_have_finite_gradients():
    gen = torch.Generator().manual_seed(1)
    tensors = [t.requires_grad_() for t in _qkv(gen, (2,), 3, 4, 8, 8)]
    mask = torch.zeros(3, 4)
    mask[1] = float("-inf")  # query 1 may attend to nothing
    ours, _ = scaled_dot_product_attention(*tensors, attn_mask=mask)
    ours.sum().backward()
    ours_grads = [t.grad.clone() for t in tensors]
    for t in tensors:
        t.grad = None
    F.scaled_dot_product_attention(*tensors, attn_mask=mask).sum().backward()
    for mine, ref in zip(ours_grads, (t.grad for t in tensors)):
        assert torch.isfinite(mine).all()
        torch.testing.assert_close(mine, ref, atol=1e-5, rtol=1e-5)


def test_torch_sdpa_on_2d_inputs_runs_the_math_path():
    """The chapter's check calls F.scaled_dot_product_attention on 2-D (L, d) tensors: PyTorch then runs its
    unfused math path, because its fused kernels need 4-D (batch, heads, L, d) inputs."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    gen = torch.Generator().manual_seed(0)
    q2, k2, v2 = _qkv(gen, (), 3, 3, 4, 4)
    with sdpa_kernel(SDPBackend.MATH):
        math_2d = F.scaled_dot_product_attention(q2, k2, v2)
    assert torch.equal(F.scaled_dot_product_attention(q2, k2, v2), math_2d)
    refused = pytest.raises(RuntimeError, match="No available kernel")
    with warnings.catch_warnings(record=True) as why, refused, sdpa_kernel(SDPBackend.FLASH_ATTENTION):
        warnings.simplefilter("always")
        F.scaled_dot_product_attention(q2, k2, v2)
    assert any("requires query, key and value to be 4 dimensional" in str(w.message) for w in why)
    with sdpa_kernel(SDPBackend.FLASH_ATTENTION):  # the same numbers as (1, 1, L, d) run a fused kernel on CPU
        fused = F.scaled_dot_product_attention(q2[None, None], k2[None, None], v2[None, None])[0, 0]
    torch.testing.assert_close(fused, math_2d, **TOL)


def test_causal_mask_matches_torch_is_causal():
    assert torch.equal(causal_mask(3), torch.tensor([[1, 0, 0], [1, 1, 0], [1, 1, 1]], dtype=torch.bool))
    q, k, v = torch.randn(1, 3, 4), torch.randn(1, 5, 4), torch.randn(1, 5, 4)  # L != S: top-left aligned
    torch.testing.assert_close(scaled_dot_product_attention(q, k, v, attn_mask=causal_mask(3, 5))[0],
                               F.scaled_dot_product_attention(q, k, v, is_causal=True), **TOL)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("embed_dim,num_heads,bias", [(8, 1, True), (16, 4, True), (24, 3, False), (64, 8, True)])
def test_multi_head_equals_torch(embed_dim, num_heads, bias, seed):
    torch.manual_seed(seed)
    ref = torch.nn.MultiheadAttention(embed_dim, num_heads, bias=bias, batch_first=True)
    if bias:  # torch initialises biases to zero; make them count
        with torch.no_grad():
            ref.in_proj_bias.normal_()
            ref.out_proj.bias.normal_()
    ours = MultiHeadAttention.from_torch(ref)
    B, L, S = 3, 5, 7
    x, mem = torch.randn(B, L, embed_dim), torch.randn(B, S, embed_dim)
    pad = torch.zeros(B, S, dtype=torch.bool)
    pad[0, 4:] = True
    pad[2, 6:] = True

    def check(our_out, ref_out):
        torch.testing.assert_close(our_out[0], ref_out[0], **TOL)
        torch.testing.assert_close(our_out[1].mean(dim=1), ref_out[1], **TOL)  # torch averages heads

    check(ours(x), ref(x, x, x))  # self-attention
    check(ours(x, mem, mem), ref(x, mem, mem))  # cross-attention
    check(ours(x, mem, mem, key_padding_mask=pad), ref(x, mem, mem, key_padding_mask=pad))
    check(ours(x, is_causal=True), ref(x, x, x, attn_mask=~causal_mask(L), is_causal=True))
    allowed = torch.rand(L, S) > 0.3
    allowed[:, 0] = True
    check(ours(x, mem, mem, attn_mask=allowed, key_padding_mask=pad),
          ref(x, mem, mem, attn_mask=~allowed, key_padding_mask=pad))  # torch: True = masked out
    float_mask = torch.randn(L, S)
    check(ours(x, mem, mem, attn_mask=float_mask), ref(x, mem, mem, attn_mask=float_mask))


def test_multi_head_per_head_weights_shape():
    out, w = MultiHeadAttention(16, 4)(torch.randn(2, 5, 16), torch.randn(2, 7, 16))
    assert out.shape == (2, 5, 16) and w.shape == (2, 4, 5, 7)


@pytest.mark.parametrize(
    "call,error,argument",
    [
        (lambda: scaled_dot_product_attention([[1.0]], torch.ones(1, 1), torch.ones(1, 1)), TypeError, "query"),
        (lambda: scaled_dot_product_attention(torch.ones(2, 3, dtype=torch.long), torch.ones(2, 3), torch.ones(2, 3)),
         TypeError, "query"),
        (lambda: scaled_dot_product_attention(torch.ones(3), torch.ones(2, 3), torch.ones(2, 3)), ValueError, "query"),
        (lambda: scaled_dot_product_attention(torch.ones(2, 3), torch.ones(2, 4), torch.ones(2, 3)), ValueError, "key"),
        (lambda: scaled_dot_product_attention(torch.ones(2, 3), torch.ones(2, 3), torch.ones(5, 3)), ValueError, "value"),
        (lambda: scaled_dot_product_attention(torch.ones(2, 3), torch.ones(2, 3, dtype=torch.float64), torch.ones(2, 3)),
         TypeError, "dtype"),
        (lambda: scaled_dot_product_attention(torch.ones(2, 2, 3), torch.ones(3, 2, 3), torch.ones(3, 2, 3)),
         ValueError, "batch"),
        (lambda: scaled_dot_product_attention(torch.ones(2, 3), torch.ones(4, 3), torch.ones(4, 3),
                                              attn_mask=torch.ones(3, 4, dtype=torch.bool)), ValueError, "attn_mask"),
        (lambda: scaled_dot_product_attention(torch.ones(2, 3), torch.ones(4, 3), torch.ones(4, 3),
                                              attn_mask=torch.ones(2, 4, dtype=torch.long)), TypeError, "attn_mask"),
        (lambda: scaled_dot_product_attention(torch.ones(2, 3), torch.ones(2, 3), torch.ones(2, 3),
                                              attn_mask=torch.ones(2, 2, dtype=torch.bool), is_causal=True),
         ValueError, "attn_mask"),
        (lambda: causal_mask(0), ValueError, "query_len"),
        (lambda: MultiHeadAttention(10, 3), ValueError, "num_heads"),
        (lambda: MultiHeadAttention(8, 2)(torch.ones(2, 3, 6)), ValueError, "query"),
        (lambda: MultiHeadAttention(8, 2)(torch.ones(2, 3, 8), torch.ones(3, 4, 8)), ValueError, "batch"),
        (lambda: MultiHeadAttention(8, 2)(torch.ones(2, 3, 8), key_padding_mask=torch.ones(2, 3)), TypeError,
         "key_padding_mask"),
        (lambda: MultiHeadAttention(8, 2)(torch.ones(2, 3, 8), key_padding_mask=torch.ones(2, 4, dtype=torch.bool)),
         ValueError, "key_padding_mask"),
        (lambda: MultiHeadAttention.from_torch(torch.nn.MultiheadAttention(8, 2)), ValueError, "batch_first"),
        (lambda: MultiHeadAttention.from_torch(torch.nn.MultiheadAttention(8, 2, batch_first=True, add_bias_kv=True)),
         ValueError, "add_bias_kv"),
    ],
)
def test_bad_input_is_rejected_with_a_clear_message(call, error, argument):
    with pytest.raises(error, match=argument):
        call()
