"""genai_guide.efficient_attention against PyTorch and transformers, on random inputs.

Incremental (KV-cached) and grouped-query attention equal
`torch.nn.functional.scaled_dot_product_attention` within 1e-6 in float32; tiled attention (online
softmax) and banded sliding-window attention, which sum in another order, within 1e-5 in float32 and
1e-12 in float64, and tiled attention never creates an L x S tensor. The cache-size formula equals the bytes a
transformers `DynamicCache` really holds, and the sliding-window mask equals transformers' own.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from genai_guide.attention import scaled_dot_product_attention
from genai_guide.efficient_attention import (
    KVCache,
    grouped_query_attention,
    incremental_attention,
    kv_cache_bytes,
    receptive_field,
    repeat_kv,
    sliding_window_attention,
    sliding_window_mask,
    tiled_attention,
)

TOL = {"atol": 1e-6, "rtol": 0}
TILED_TOL = {"atol": 1e-5, "rtol": 0}  # the online softmax rescales and sums in another order
BANDED_TOL = {"atol": 1e-5, "rtol": 0}  # the band's dot products and sums run in another order


def _qkv(gen: torch.Generator, batch: tuple[int, ...], L: int, S: int, d_k: int, d_v: int, dtype=torch.float32):
    return (torch.randn(*batch, L, d_k, generator=gen, dtype=dtype),
            torch.randn(*batch, S, d_k, generator=gen, dtype=dtype),
            torch.randn(*batch, S, d_v, generator=gen, dtype=dtype))


# ---------------------------------------------------------------------------------------------
# KV cache
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("batch,n,d_k,d_v,prefill", [((), 1, 4, 4, 1), ((2,), 9, 8, 3, 1), ((2, 3), 16, 16, 16, 5),
                                                     ((1, 4), 20, 32, 8, 20), ((3, 2), 13, 8, 8, 4)])
def test_incremental_attention_equals_full_causal_attention(batch, n, d_k, d_v, prefill, seed):
    gen = torch.Generator().manual_seed(seed)
    q, k, v = _qkv(gen, batch, n, n, d_k, d_v)
    full = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    cache = KVCache()
    outs = [incremental_attention(q[..., :prefill, :], k[..., :prefill, :], v[..., :prefill, :], cache)]
    for t in range(prefill, n):
        outs.append(incremental_attention(q[..., t:t + 1, :], k[..., t:t + 1, :], v[..., t:t + 1, :], cache))
        assert len(cache) == t + 1
    torch.testing.assert_close(torch.cat(outs, dim=-2), full, **TOL)
    assert cache.keys.shape == (*batch, n, d_k) and cache.values.shape == (*batch, n, d_v)


def test_incremental_attention_with_chunks_and_scale():
    gen = torch.Generator().manual_seed(7)
    q, k, v = _qkv(gen, (2, 4), 17, 17, 8, 8)
    full = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.2)
    cache, outs = KVCache(), []
    for a, b in ((0, 3), (3, 4), (4, 11), (11, 17)):  # chunks of 3, 1, 7 and 6 new tokens
        outs.append(incremental_attention(q[..., a:b, :], k[..., a:b, :], v[..., a:b, :], cache, scale=0.2))
    torch.testing.assert_close(torch.cat(outs, dim=-2), full, **TOL)


def test_kv_cache_append_returns_everything_held():
    cache = KVCache()
    assert len(cache) == 0 and cache.keys is None
    k1, v1 = torch.randn(2, 3, 4), torch.randn(2, 3, 5)
    keys, values = cache.append(k1, v1)
    assert keys is k1 and values is v1
    k2, v2 = torch.randn(2, 1, 4), torch.randn(2, 1, 5)
    keys, values = cache.append(k2, v2)
    assert torch.equal(keys, torch.cat([k1, k2], dim=1)) and torch.equal(values, torch.cat([v1, v2], dim=1))
    assert len(cache) == 4


def test_greedy_generation_is_the_same_with_and_without_cache():
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(vocab_size=48, n_positions=40, n_embd=32, n_layer=2, n_head=4,
                        bos_token_id=0, eos_token_id=1, pad_token_id=1)
    model = GPT2LMHeadModel(config).eval()
    prompt = torch.tensor([[3, 4, 5], [9, 8, 7]])
    kwargs = {"max_new_tokens": 10, "min_new_tokens": 10, "do_sample": False}
    with_cache = model.generate(prompt, use_cache=True, **kwargs)
    assert torch.equal(with_cache, model.generate(prompt, use_cache=False, **kwargs))


@pytest.mark.parametrize("layers,heads,kv_heads,head_dim,tokens", [(2, 4, 4, 8, 5), (3, 8, 2, 4, 7), (2, 6, 1, 8, 3)])
def test_kv_cache_bytes_equals_what_transformers_holds(layers, heads, kv_heads, head_dim, tokens):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=32, hidden_size=heads * head_dim, intermediate_size=16,
                         num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv_heads,
                         max_position_embeddings=32, bos_token_id=0, eos_token_id=1, pad_token_id=2)
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():
        out = model(torch.randint(3, 32, (2, tokens)), use_cache=True)
    held = sum(layer.keys.nbytes + layer.values.nbytes for layer in out.cache.layers)
    assert out.cache.layers[0].keys.shape == (2, kv_heads, tokens, head_dim)
    assert held == kv_cache_bytes(layers, kv_heads, head_dim, bytes_per_value=4, tokens=tokens, batch_size=2)


def test_kv_cache_bytes_worked_examples():
    assert kv_cache_bytes(32, 32, 128) == 2**19  # Llama 2 7B, fp16: 0.5 MiB per token
    assert kv_cache_bytes(32, 32, 128, tokens=4096) == 2 * 2**30  # 2 GiB for 4,096 tokens
    assert kv_cache_bytes(80, 64, 128) // kv_cache_bytes(80, 8, 128) == 8  # Llama 2 70B: GQA with 8 groups


# ---------------------------------------------------------------------------------------------
# Multi-query and grouped-query attention
# ---------------------------------------------------------------------------------------------


def test_torch_has_enable_gqa():
    assert "enable_gqa" in F.scaled_dot_product_attention.__doc__
    q, k = torch.randn(1, 4, 2, 8), torch.randn(1, 2, 3, 8)
    assert F.scaled_dot_product_attention(q, k, k, enable_gqa=True).shape == (1, 4, 2, 8)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("batch,h,g,L,S,d_k,d_v", [((), 1, 1, 1, 1, 4, 4), ((2,), 8, 2, 5, 7, 16, 8),
                                                   ((2,), 8, 1, 6, 6, 8, 8), ((1, 3), 6, 3, 4, 9, 8, 5),
                                                   ((2,), 12, 12, 10, 10, 32, 32), ((3,), 32, 8, 3, 11, 16, 16)])
def test_grouped_query_attention_equals_torch_enable_gqa(batch, h, g, L, S, d_k, d_v, seed):
    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(*batch, h, L, d_k, generator=gen)
    k = torch.randn(*batch, g, S, d_k, generator=gen)
    v = torch.randn(*batch, g, S, d_v, generator=gen)
    mask = torch.rand(L, S, generator=gen) > 0.3
    mask[:, 0] = True
    cases = [{}, {"is_causal": True}, {"attn_mask": mask}, {"attn_mask": torch.randn(L, S, generator=gen)},
             {"scale": 0.3 / d_k**0.5}]
    for kwargs in cases:
        ours = grouped_query_attention(q, k, v, **kwargs)
        ref = F.scaled_dot_product_attention(q, k, v, enable_gqa=True, **kwargs)
        torch.testing.assert_close(ours, ref, **TOL, msg=lambda m, kw=kwargs: f"{list(kw)}: {m}")


@pytest.mark.parametrize("n_rep", [1, 2, 4])
def test_repeat_kv_equals_transformers(n_rep):
    from transformers.models.llama.modeling_llama import repeat_kv as hf_repeat_kv

    x = torch.randn(2, 3, 5, 4)
    assert torch.equal(repeat_kv(x, n_rep), hf_repeat_kv(x, n_rep))


def test_multi_query_attention_shares_one_head():
    q, k, v = torch.randn(2, 4, 5, 8), torch.randn(2, 1, 6, 8), torch.randn(2, 1, 6, 8)
    out = grouped_query_attention(q, k, v)
    for i in range(4):  # every query head attends with the same single key/value head
        torch.testing.assert_close(out[:, i], F.scaled_dot_product_attention(q[:, i], k[:, 0], v[:, 0]), **TOL)


# ---------------------------------------------------------------------------------------------
# Tiled attention with the online softmax
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize("batch,L,S,d_k,d_v,bq,bk", [((), 1, 1, 4, 4, 64, 64), ((2,), 37, 37, 16, 8, 8, 5),
                                                     ((2, 3), 64, 64, 32, 32, 16, 16), ((1, 2), 20, 45, 8, 4, 7, 9),
                                                     ((3,), 50, 12, 8, 8, 4, 64), ((2,), 128, 128, 64, 64, 128, 32)])
def test_tiled_attention_equals_full_attention(batch, L, S, d_k, d_v, bq, bk, seed):
    gen = torch.Generator().manual_seed(seed)
    q, k, v = _qkv(gen, batch, L, S, d_k, d_v)
    for kwargs in ({}, {"is_causal": True}, {"scale": 0.5 / d_k**0.5}, {"is_causal": True, "scale": 1.5 / d_k**0.5}):
        ours = tiled_attention(q, k, v, block_q=bq, block_k=bk, **kwargs)
        ref = F.scaled_dot_product_attention(q, k, v, **kwargs)
        torch.testing.assert_close(ours, ref, **TILED_TOL, msg=lambda m, kw=kwargs: f"{list(kw)}: {m}")


def test_tiled_attention_in_float64_with_large_scores():
    """Scores with standard deviation ~20 exercise the rescaling; float64 leaves no room for rounding."""
    gen = torch.Generator().manual_seed(3)
    q, k, v = _qkv(gen, (2, 2), 40, 40, 16, 16, dtype=torch.float64)
    for causal in (False, True):
        ours = tiled_attention(q, k, v, block_q=8, block_k=8, scale=5.0, is_causal=causal)
        ref = F.scaled_dot_product_attention(q, k, v, scale=5.0, is_causal=causal)
        torch.testing.assert_close(ours, ref, atol=1e-12, rtol=0)


def test_tiled_attention_stats_count_blocks():
    q, k, v = torch.randn(1, 64, 8), torch.randn(1, 64, 8), torch.randn(1, 64, 8)
    stats: dict[str, int] = {}
    tiled_attention(q, k, v, block_q=16, block_k=16, stats=stats)
    assert stats == {"peak_block_scores": 256, "blocks_computed": 16, "blocks_skipped": 0}
    tiled_attention(q, k, v, block_q=16, block_k=16, is_causal=True, stats=stats)
    assert stats == {"peak_block_scores": 256, "blocks_computed": 10, "blocks_skipped": 6}  # 4 + 3 + 2 + 1


class _RecordShapes(TorchFunctionMode):
    """Record the shape of every tensor a torch function returns."""

    def __init__(self) -> None:
        super().__init__()
        self.shapes: list[tuple[int, ...]] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        result = func(*args, **(kwargs or {}))
        for r in result if isinstance(result, tuple) else (result,):
            if isinstance(r, torch.Tensor):
                self.shapes.append(tuple(r.shape))
        return result


def test_tiled_attention_never_creates_the_score_matrix():
    L, S = 96, 80
    q, k, v = torch.randn(2, L, 8), torch.randn(2, S, 8), torch.randn(2, S, 8)
    with _RecordShapes() as full:  # the check can fail: ordinary attention makes an L x S tensor
        scaled_dot_product_attention(q, k, v)
    assert (2, L, S) in full.shapes
    with _RecordShapes() as tiled:
        tiled_attention(q, k, v, block_q=16, block_k=16, is_causal=True)
    assert tiled.shapes and all(shape[-2:] != (L, S) for shape in tiled.shapes)
    assert max(s[-2] * s[-1] for s in tiled.shapes if len(s) == 3 and s[-1] == 16) == 16 * 16


# ---------------------------------------------------------------------------------------------
# Sliding-window attention
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("L,window", [(1, 1), (8, 1), (8, 3), (10, 10), (7, 20), (33, 4)])
def test_sliding_window_mask_equals_transformers(L, window):
    from transformers.masking_utils import sliding_window_causal_mask_function

    allowed = sliding_window_causal_mask_function(window)  # transformers' (batch, head, q_idx, kv_idx) -> bool
    positions = torch.arange(L)
    expected = allowed(torch.tensor(0), torch.tensor(0), positions[:, None], positions[None, :])
    assert torch.equal(sliding_window_mask(L, window), expected)


def test_sliding_window_mask_with_a_large_window_is_causal():
    assert torch.equal(sliding_window_mask(6, 6), torch.ones(6, 6, dtype=torch.bool).tril())


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("batch,L,window,d_k,d_v", [((), 1, 1, 4, 4), ((2,), 9, 1, 8, 3), ((2, 3), 16, 4, 16, 16),
                                                    ((1, 4), 20, 20, 8, 8), ((3,), 12, 50, 8, 5),
                                                    ((2, 2), 64, 8, 32, 32)])
def test_sliding_window_attention_equals_torch_with_the_mask(batch, L, window, d_k, d_v, seed):
    gen = torch.Generator().manual_seed(seed)
    q, k, v = _qkv(gen, batch, L, L, d_k, d_v)
    mask = sliding_window_mask(L, window)
    for kwargs in ({}, {"scale": 0.7 / d_k**0.5}):
        ours = sliding_window_attention(q, k, v, window, **kwargs)
        ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, **kwargs)
        torch.testing.assert_close(ours, ref, **BANDED_TOL)


def test_sliding_window_attention_in_float64():
    """The band sums its terms in another order than the full matrix; float64 shows the algorithm is exact."""
    gen = torch.Generator().manual_seed(5)
    q, k, v = _qkv(gen, (2, 3), 50, 50, 32, 16, dtype=torch.float64)
    for window in (1, 6, 50):
        ours = sliding_window_attention(q, k, v, window, scale=0.4)
        ref = F.scaled_dot_product_attention(q, k, v, attn_mask=sliding_window_mask(50, window), scale=0.4)
        torch.testing.assert_close(ours, ref, atol=1e-12, rtol=0)


@pytest.mark.parametrize("window", [2, 3, 5])
def test_receptive_field_equals_reachability_through_the_masks(window):
    L = 40
    mask = sliding_window_mask(L, window).double()
    reach = torch.eye(L, dtype=torch.float64)
    for layers in range(1, 6):
        reach = (mask @ reach).clamp(max=1)  # reach[i, j] = 1 if input j can influence position i
        assert int(reach[-1].sum()) == min(L, receptive_field(layers, window))
    assert receptive_field(32, 4096) == 32 * 4095 + 1


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------


def _filled_cache() -> KVCache:
    cache = KVCache()
    cache.append(torch.ones(2, 3, 4), torch.ones(2, 3, 5))
    return cache


@pytest.mark.parametrize(
    "call,error,argument",
    [
        (lambda: KVCache().append([[1.0]], torch.ones(1, 1)), TypeError, "key"),
        (lambda: KVCache().append(torch.ones(2, 3), torch.ones(2, 3, dtype=torch.long)), TypeError, "value"),
        (lambda: KVCache().append(torch.ones(3), torch.ones(3)), ValueError, "key"),
        (lambda: KVCache().append(torch.ones(2, 3), torch.ones(4, 3)), ValueError, "value"),
        (lambda: _filled_cache().append(torch.ones(2, 1, 6), torch.ones(2, 1, 5)), ValueError, "key"),
        (lambda: _filled_cache().append(torch.ones(2, 1, 4), torch.ones(2, 1, 7)), ValueError, "value"),
        (lambda: _filled_cache().append(torch.ones(2, 1, 4, dtype=torch.float64), torch.ones(2, 1, 5, dtype=torch.float64)),
         TypeError, "dtype"),
        (lambda: incremental_attention(torch.ones(1, 4), torch.ones(1, 4), torch.ones(1, 4), None), TypeError, "cache"),
        (lambda: incremental_attention(torch.ones(2, 4), torch.ones(1, 4), torch.ones(1, 4), KVCache()), ValueError,
         "query"),
        (lambda: incremental_attention(torch.ones(1, 4), torch.ones(1, 3), torch.ones(1, 4), KVCache()), ValueError,
         "key"),
        (lambda: kv_cache_bytes(0, 32, 128), ValueError, "n_layers"),
        (lambda: kv_cache_bytes(32, 32.0, 128), TypeError, "n_kv_heads"),
        (lambda: kv_cache_bytes(32, 32, 128, bytes_per_value=-2), ValueError, "bytes_per_value"),
        (lambda: kv_cache_bytes(32, 32, 128, tokens=True), TypeError, "tokens"),
        (lambda: repeat_kv(torch.ones(2, 3), 2), ValueError, "x"),
        (lambda: repeat_kv(torch.ones(1, 2, 3, 4), 0), ValueError, "n_rep"),
        (lambda: grouped_query_attention(torch.ones(1, 8, 2, 4), torch.ones(1, 3, 2, 4), torch.ones(1, 3, 2, 4)),
         ValueError, "key has 3 heads"),
        (lambda: grouped_query_attention(torch.ones(1, 8, 2, 4), torch.ones(1, 2, 2, 4), torch.ones(1, 4, 2, 4)),
         ValueError, "value"),
        (lambda: grouped_query_attention(torch.ones(2, 4), torch.ones(2, 4), torch.ones(2, 4)), ValueError, "query"),
        (lambda: grouped_query_attention(torch.ones(1, 2, 2, 4, dtype=torch.int64), torch.ones(1, 1, 2, 4),
                                         torch.ones(1, 1, 2, 4)), TypeError, "query"),
        (lambda: tiled_attention(torch.ones(2, 4), torch.ones(3, 4), torch.ones(3, 4), block_q=0), ValueError, "block_q"),
        (lambda: tiled_attention(torch.ones(2, 4), torch.ones(3, 4), torch.ones(3, 4), block_k=2.5), TypeError, "block_k"),
        (lambda: tiled_attention(torch.ones(2, 4), torch.ones(3, 5), torch.ones(3, 4)), ValueError, "key"),
        (lambda: tiled_attention(torch.ones(2, 4), torch.ones(3, 4), torch.ones(3, 4), stats=[]), TypeError, "stats"),
        (lambda: sliding_window_mask(0, 3), ValueError, "seq_len"),
        (lambda: sliding_window_mask(8, 0), ValueError, "window"),
        (lambda: sliding_window_mask(8, "3"), TypeError, "window"),
        (lambda: sliding_window_attention(torch.ones(4, 8), torch.ones(5, 8), torch.ones(5, 8), 2), ValueError, "key"),
        (lambda: sliding_window_attention(torch.ones(4, 8), torch.ones(4, 8), torch.ones(4, 8), -1), ValueError, "window"),
        (lambda: sliding_window_attention(torch.ones(4, 8), torch.ones(4, 8), torch.ones(4, 8, dtype=torch.float64), 2),
         TypeError, "dtype"),
        (lambda: receptive_field(0, 4096), ValueError, "n_layers"),
    ],
)
def test_bad_input_is_rejected_with_a_clear_message(call, error, argument):
    with pytest.raises(error, match=argument):
        call()
