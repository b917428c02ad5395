"""genai_guide.positions against transformers: RoPE equal to LlamaRotaryEmbedding + apply_rotary_pos_emb
within 1e-6 in float32 on random shapes, the sinusoidal table equal to XLM's, and the properties the
chapter claims (offset map, norms, relative scores) checked numerically."""

from __future__ import annotations

import math

import pytest
import torch
from transformers import LlamaConfig
from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding, apply_rotary_pos_emb
from transformers.models.xlm.modeling_xlm import create_sinusoidal_embeddings

from genai_guide.positions import (
    apply_rope,
    rope_angles,
    rope_frequencies,
    rope_rotate,
    sinusoidal_encoding,
    sinusoidal_offset_matrix,
)

TOL = {"atol": 1e-6, "rtol": 0}


def _hf_rope(head_dim: int, heads: int, base: float) -> LlamaRotaryEmbedding:
    config = LlamaConfig(hidden_size=heads * head_dim, num_attention_heads=heads, head_dim=head_dim,
                         rope_parameters={"rope_type": "default", "rope_theta": base})
    return LlamaRotaryEmbedding(config)


# --- sinusoidal -------------------------------------------------------------------------------------

@pytest.mark.parametrize("seq_len,d_model", [(1, 2), (7, 4), (50, 16), (128, 64), (512, 130)])
def test_sinusoidal_equals_transformers_xlm(seq_len, d_model):
    ref = create_sinusoidal_embeddings(seq_len, d_model, torch.empty(seq_len, d_model))
    torch.testing.assert_close(sinusoidal_encoding(seq_len, d_model), ref, **TOL)


def test_sinusoidal_equals_the_formula_of_the_paper():
    seq_len, d_model = 20, 10
    pe = sinusoidal_encoding(seq_len, d_model, dtype=torch.float64)
    for pos in range(seq_len):
        for i in range(d_model // 2):
            angle = pos / 10000 ** (2 * i / d_model)
            assert math.isclose(pe[pos, 2 * i].item(), math.sin(angle), abs_tol=1e-12)
            assert math.isclose(pe[pos, 2 * i + 1].item(), math.cos(angle), abs_tol=1e-12)


@pytest.mark.parametrize("d_model", [2, 8, 64])
@pytest.mark.parametrize("offset", [1, 3, 17, -5])
def test_sinusoidal_offset_is_a_fixed_rotation_independent_of_pos(d_model, offset):
    pe = sinusoidal_encoding(200, d_model, dtype=torch.float64)
    m = sinusoidal_offset_matrix(offset, d_model, dtype=torch.float64)
    src = pe[max(0, -offset): 200 - max(0, offset)]  # every pos with pos + offset in the table
    dst = pe[max(0, offset): 200 + min(0, offset)]
    torch.testing.assert_close(src @ m.T, dst, atol=1e-10, rtol=0)
    torch.testing.assert_close(m @ m.T, torch.eye(d_model, dtype=torch.float64), atol=1e-12, rtol=0)
    block = m[:2, :2]  # the fastest pair: a rotation by omega_0 * offset = offset radians
    expected = torch.tensor([[math.cos(offset), math.sin(offset)], [-math.sin(offset), math.cos(offset)]],
                            dtype=torch.float64)
    torch.testing.assert_close(block, expected, atol=1e-12, rtol=0)
    assert torch.count_nonzero(m) <= 2 * d_model  # block-diagonal: 2x2 blocks only


def test_sinusoidal_dot_product_depends_only_on_offset():
    pe = sinusoidal_encoding(100, 32, dtype=torch.float64)
    gram = pe @ pe.T
    for k in (0, 1, 5, 40):
        diag = torch.diagonal(gram, offset=k)
        torch.testing.assert_close(diag, diag[:1].expand_as(diag), atol=1e-10, rtol=0)


# --- RoPE -------------------------------------------------------------------------------------------

def test_rope_frequencies_equal_transformers_inv_freq():
    for head_dim, base in [(2, 10000.0), (16, 10000.0), (64, 500000.0), (128, 1e6), (10, 3.0)]:
        ref = _hf_rope(head_dim, 2, base).inv_freq
        assert torch.equal(rope_frequencies(head_dim, base), ref)


RANDOM_CASES = [  # (batch, heads, kv_heads, seq, head_dim, base)
    (1, 1, 1, 1, 2, 10000.0),
    (2, 4, 4, 7, 16, 10000.0),
    (3, 8, 2, 13, 64, 500000.0),
    (2, 2, 1, 33, 10, 10000.0),
    (1, 6, 3, 64, 128, 1e6),
]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("case", RANDOM_CASES, ids=str)
def test_rope_equals_transformers_llama(case, seed):
    gen = torch.Generator().manual_seed(seed)
    batch, heads, kv_heads, seq, head_dim, base = case
    q = torch.randn(batch, heads, seq, head_dim, generator=gen)
    k = torch.randn(batch, kv_heads, seq, head_dim, generator=gen)
    start = torch.randint(0, 3000, (batch, 1), generator=gen)  # e.g. decoding after a long prompt
    position_ids = start + torch.arange(seq)  # (batch, seq)
    rope = _hf_rope(head_dim, heads, base)
    cos, sin = rope(q, position_ids)
    ref_q, ref_k = apply_rotary_pos_emb(q, k, cos, sin)
    ours_q, ours_k = apply_rope(q, k, position_ids, base=base)
    torch.testing.assert_close(ours_q, ref_q, **TOL)
    torch.testing.assert_close(ours_k, ref_k, **TOL)
    # 1-D positions shared by the batch, and 3-D inputs (seq, head_dim) without a heads axis
    shared = position_ids[0]
    cos, sin = rope(q, shared[None].expand(batch, seq))
    ref_q, _ = apply_rotary_pos_emb(q, k, cos, sin)
    torch.testing.assert_close(apply_rope(q, k, shared, base=base)[0], ref_q, **TOL)
    torch.testing.assert_close(rope_rotate(q[:, 0], shared, base=base), ref_q[:, 0], **TOL)


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16, torch.float16])
def test_rope_equals_transformers_in_other_dtypes(dtype):
    gen = torch.Generator().manual_seed(0)
    q, k = torch.randn(2, 4, 9, 32, generator=gen).to(dtype), torch.randn(2, 4, 9, 32, generator=gen).to(dtype)
    position_ids = torch.arange(9).expand(2, 9) + torch.tensor([[0], [100]])
    cos, sin = _hf_rope(32, 4, 10000.0)(q, position_ids)
    ref_q, ref_k = apply_rotary_pos_emb(q, k, cos, sin)
    ours_q, ours_k = apply_rope(q, k, position_ids)
    assert ours_q.dtype == dtype
    torch.testing.assert_close(ours_q, ref_q, atol=1e-12 if dtype == torch.float64 else 0, rtol=0)
    torch.testing.assert_close(ours_k, ref_k, atol=1e-12 if dtype == torch.float64 else 0, rtol=0)


def test_rope_preserves_norms():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, 40, 64, generator=gen)
    positions = torch.arange(40) * 50  # far positions too
    for interleaved in (False, True):
        rotated = rope_rotate(x, positions, interleaved=interleaved)
        torch.testing.assert_close(rotated.norm(dim=-1), x.norm(dim=-1), atol=1e-5, rtol=1e-6)


@pytest.mark.parametrize("interleaved", [False, True])
def test_rope_scores_depend_only_on_the_offset(interleaved):
    gen = torch.Generator().manual_seed(2)
    head_dim = 64
    q, k = torch.randn(head_dim, generator=gen), torch.randn(head_dim, generator=gen)

    def score(m: int, n: int) -> float:
        qm = rope_rotate(q[None], torch.tensor([m]), interleaved=interleaved)[0]
        kn = rope_rotate(k[None], torch.tensor([n]), interleaved=interleaved)[0]
        return (qm @ kn).item()

    for m, n in [(0, 0), (3, 7), (10, 2), (0, 31)]:
        for s in (1, 5, 100):
            assert score(m, n) == pytest.approx(score(m + s, n + s), abs=1e-4)
    assert score(0, 0) == pytest.approx((q @ k).item(), abs=1e-5)  # position 0 is the identity
    assert abs(score(0, 1) - score(0, 2)) > 1e-3  # and the offset does change the score

    # the whole score matrix of one q and one k placed everywhere is Toeplitz (constant diagonals)
    L = 24
    qs = rope_rotate(q.expand(L, head_dim), torch.arange(L), interleaved=interleaved)
    ks = rope_rotate(k.expand(L, head_dim), torch.arange(L), interleaved=interleaved)
    scores = qs @ ks.T
    for off in range(-L + 1, L):
        diag = torch.diagonal(scores, offset=off)
        torch.testing.assert_close(diag, diag[:1].expand_as(diag), atol=1e-4, rtol=0)


def test_interleaved_layout_is_a_permutation_of_the_half_layout():
    gen = torch.Generator().manual_seed(3)
    d = 16
    x = torch.randn(2, 5, 11, d, generator=gen)
    positions = torch.arange(11) + 7
    perm = torch.cat((torch.arange(0, d, 2), torch.arange(1, d, 2)))  # interleaved index of half-layout dim
    paper = rope_rotate(x, positions, interleaved=True)
    hf = rope_rotate(x[..., perm], positions)
    torch.testing.assert_close(hf, paper[..., perm], **TOL)
    assert not torch.allclose(rope_rotate(x, positions), paper, atol=1e-3)  # the layouts do differ


def test_rope_rotation_is_the_angle_m_theta_on_a_single_pair():
    x = torch.tensor([[1.0, 0.0]])  # head_dim 2: one pair, theta_0 = 1
    out = rope_rotate(x, torch.tensor([3]), interleaved=True)[0]
    torch.testing.assert_close(out, torch.tensor([math.cos(3.0), math.sin(3.0)]), **TOL)
    angles = rope_angles(torch.tensor([[0, 2]]), head_dim=4, base=100.0)
    torch.testing.assert_close(angles, torch.tensor([[[0.0, 0.0], [2.0, 0.2]]]), **TOL)


@pytest.mark.parametrize(
    "call,error,argument",
    [
        (lambda: sinusoidal_encoding(0, 8), ValueError, "seq_len"),
        (lambda: sinusoidal_encoding(4, 7), ValueError, "d_model"),
        (lambda: sinusoidal_encoding(4, 8.0), ValueError, "d_model"),
        (lambda: sinusoidal_encoding(4, 8, dtype=torch.int64), TypeError, "dtype"),
        (lambda: sinusoidal_encoding(4, 8, base=1.0), ValueError, "base"),
        (lambda: sinusoidal_offset_matrix(1.5, 8), TypeError, "offset"),
        (lambda: sinusoidal_offset_matrix(1, 5), ValueError, "d_model"),
        (lambda: rope_frequencies(7), ValueError, "head_dim"),
        (lambda: rope_angles([0, 1], 8), TypeError, "positions"),
        (lambda: rope_angles(torch.tensor([0.0, 1.0]), 8), TypeError, "positions"),
        (lambda: rope_rotate(torch.ones(4, 8, dtype=torch.long), torch.arange(4)), TypeError, "x"),
        (lambda: rope_rotate(torch.ones(8), torch.arange(1)), ValueError, "x"),
        (lambda: rope_rotate(torch.ones(4, 7), torch.arange(4)), ValueError, "head_dim"),
        (lambda: rope_rotate(torch.ones(4, 8), torch.arange(5)), ValueError, "positions"),
        (lambda: rope_rotate(torch.ones(2, 4, 8), torch.arange(4).expand(2, 4)), ValueError, "positions"),
        (lambda: rope_rotate(torch.ones(4, 8), torch.arange(4.0)), TypeError, "positions"),
        (lambda: apply_rope(torch.ones(1, 2, 4, 8), torch.ones(1, 2, 4, 8, dtype=torch.float64), torch.arange(4)),
         TypeError, "dtype"),
        (lambda: apply_rope(torch.ones(1, 2, 4, 8), torch.ones(1, 2, 4, 6), torch.arange(4)), ValueError, "head_dim"),
        (lambda: apply_rope(torch.ones(1, 2, 4, 8), torch.ones(1, 2, 5, 8), torch.arange(4)), ValueError, "k"),
        (lambda: apply_rope(torch.ones(1, 2, 4, 8), "k", torch.arange(4)), TypeError, "k"),
        (lambda: apply_rope(torch.ones(1, 2, 4, 8), torch.ones(1, 2, 4, 8), torch.arange(4), base=0), ValueError,
         "base"),
    ],
)
def test_bad_input_is_rejected_with_a_clear_message(call, error, argument):
    with pytest.raises(error, match=argument):
        call()
