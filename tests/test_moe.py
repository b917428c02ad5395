"""genai_guide.moe against transformers' Mixtral: the layer within 1e-5, the auxiliary loss within 1e-6,
the parameter count exactly equal to a tiny MixtralForCausalLM's, and bad input rejected."""

from __future__ import annotations

import pytest
import torch
from transformers import MixtralConfig, MixtralForCausalLM
from transformers.models.mixtral.modeling_mixtral import (
    MixtralSparseMoeBlock,
    load_balancing_loss_func,
)

from genai_guide.moe import SparseMoE, load_balancing_loss, moe_parameter_counts, top_k_gating

CASES = [  # (hidden, intermediate, experts, top_k, batch, seq)
    (8, 16, 2, 1, 1, 1),
    (16, 32, 4, 2, 2, 5),
    (12, 20, 8, 2, 3, 7),
    (32, 24, 6, 3, 2, 16),
    (16, 8, 5, 5, 1, 9),
]


def mixtral_block(d, ff, e, k, seed):
    config = MixtralConfig(hidden_size=d, intermediate_size=ff, num_local_experts=e, num_experts_per_tok=k,
                           experts_implementation="eager")
    block = MixtralSparseMoeBlock(config).eval()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in block.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
    return block


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("case", CASES, ids=str)
def test_layer_equals_mixtral_block(case, seed):
    d, ff, e, k, b, s = case
    block = mixtral_block(d, ff, e, k, seed)
    moe = SparseMoE(d, ff, e, k).load_mixtral(block)
    x = torch.randn(b, s, d, generator=torch.Generator().manual_seed(100 + seed))
    with torch.no_grad():
        ours, logits = moe(x)
        ref = block(x)
        ref_logits, ref_weights, ref_idx = block.gate(x.reshape(-1, d))
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(logits, ref_logits, atol=1e-6, rtol=0)
    weights, idx = top_k_gating(logits, k)
    assert torch.equal(idx, ref_idx)
    torch.testing.assert_close(weights, ref_weights, atol=1e-6, rtol=0)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("layers,tokens,experts,top_k", [(1, 1, 2, 1), (1, 10, 4, 2), (3, 17, 8, 2), (2, 33, 6, 3)])
def test_load_balancing_loss_equals_transformers(layers, tokens, experts, top_k, seed):
    gen = torch.Generator().manual_seed(seed)
    logits = tuple(torch.randn(tokens, experts, generator=gen) * 2 for _ in range(layers))
    ref = load_balancing_loss_func(logits, num_experts=experts, top_k=top_k)
    torch.testing.assert_close(load_balancing_loss(logits, top_k), ref, atol=1e-6, rtol=0)
    mask = (torch.rand(1, tokens, generator=gen) > 0.3).long()
    mask[0, 0] = 1
    ref = load_balancing_loss_func(logits, num_experts=experts, top_k=top_k, attention_mask=mask)
    torch.testing.assert_close(load_balancing_loss(logits, top_k, attention_mask=mask), ref, atol=1e-6, rtol=0)


def test_load_balancing_loss_extremes():
    uniform = torch.zeros(12, 4)
    uniform[torch.arange(12), torch.arange(12) % 4] = 1e-3  # tie-free, spread evenly
    assert abs(load_balancing_loss(uniform, 1).item() - 1.0) < 1e-3
    collapsed = torch.zeros(12, 4)
    collapsed[:, 0] = 30.0
    assert abs(load_balancing_loss(collapsed, 1).item() - 4.0) < 1e-3


def test_capacity_drops_overflow_in_token_order():
    moe = SparseMoE(4, 8, 2, 1, capacity_factor=1.0)
    with torch.no_grad():
        moe.router.weight.copy_(torch.tensor([[1.0, 0, 0, 0], [-1.0, 0, 0, 0]]))
    x = torch.randn(6, 4).abs() + 0.1  # every token prefers expert 0; capacity = ceil(6 * 1 / 2) = 3
    with torch.no_grad():
        y, _ = moe(x)
        moe.capacity_factor = None
        full, _ = moe(x)
    torch.testing.assert_close(y[:3], full[:3])
    assert torch.equal(y[3:], torch.zeros(3, 4))


@pytest.mark.parametrize("tie", [False, True])
@pytest.mark.parametrize("e,k,heads,kv", [(4, 2, 4, 2), (8, 2, 4, 4), (3, 1, 2, 1)])
def test_parameter_count_equals_mixtral_model(e, k, heads, kv, tie):
    d, ff, layers, vocab = 16, 24, 2, 50
    config = MixtralConfig(vocab_size=vocab, hidden_size=d, intermediate_size=ff, num_hidden_layers=layers,
                           num_attention_heads=heads, num_key_value_heads=kv, num_local_experts=e,
                           num_experts_per_tok=k, tie_word_embeddings=tie, pad_token_id=0, bos_token_id=1,
                           eos_token_id=2)
    model = MixtralForCausalLM(config)
    total, active = moe_parameter_counts(vocab_size=vocab, hidden_size=d, intermediate_size=ff, num_layers=layers,
                                         num_heads=heads, num_kv_heads=kv, num_experts=e, top_k=k,
                                         tie_embeddings=tie)
    assert total == sum(p.numel() for p in model.parameters())
    assert total - active == layers * (e - k) * model.model.layers[0].mlp.experts.down_proj[0].numel() * 3


def test_mixtral_8x7b_counts():
    total, active = moe_parameter_counts(vocab_size=32000, hidden_size=4096, intermediate_size=14336, num_layers=32,
                                         num_heads=32, num_kv_heads=8, num_experts=8, top_k=2)
    assert abs(total - 46.7e9) / 46.7e9 < 0.01 and abs(active - 12.9e9) / 12.9e9 < 0.01


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="top_k"):
        SparseMoE(8, 16, 4, 5)
    with pytest.raises(ValueError, match="num_experts"):
        SparseMoE(8, 16, 0, 1)
    with pytest.raises(ValueError, match="capacity_factor"):
        SparseMoE(8, 16, 4, 2, capacity_factor=0.0)
    moe = SparseMoE(8, 16, 4, 2)
    with pytest.raises(ValueError, match="hidden_size"):
        moe(torch.randn(3, 7))
    with pytest.raises(TypeError, match="x"):
        moe(torch.ones(3, 8, dtype=torch.long))
    with pytest.raises(ValueError, match="router_logits"):
        top_k_gating(torch.randn(2, 3, 4), 1)
    with pytest.raises(TypeError, match="router_logits"):
        load_balancing_loss(torch.ones(3, 4, dtype=torch.long), 1)
    with pytest.raises(ValueError, match="top_k"):
        load_balancing_loss(torch.randn(3, 4), 5)
    with pytest.raises(ValueError, match="attention_mask"):
        load_balancing_loss(torch.randn(3, 4), 2, attention_mask=torch.ones(1, 4))
    with pytest.raises(ValueError, match="block"):
        SparseMoE(8, 16, 4, 2).load_mixtral(mixtral_block(8, 12, 4, 2, 0))
    with pytest.raises(ValueError, match="num_kv_heads"):
        moe_parameter_counts(vocab_size=10, hidden_size=8, intermediate_size=8, num_layers=1, num_heads=4,
                             num_kv_heads=3, num_experts=2, top_k=1)
