"""genai_guide.sizing against real models: parameter counts equal, exactly, those of models that
transformers builds on the meta device (no memory allocated) from random small configs, and of
torch.nn.Transformer; the KV-cache formula equals the bytes of a real cache; bad input is rejected."""

from __future__ import annotations

import random

import pytest
import torch
from transformers import (
    BertConfig,
    BertModel,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
)

from genai_guide.sizing import (
    activation_bytes_estimate,
    decoder_params,
    encoder_decoder_params,
    encoder_params,
    kv_cache_bytes,
    training_bytes_per_param,
    weight_bytes,
)


def count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())  # parameters() yields a tied matrix once


def _dims(rng: random.Random) -> tuple[int, int, int, int, int, int]:
    heads = rng.choice([1, 2, 4, 8])
    d = heads * rng.choice([4, 8, 16])
    return rng.randint(10, 300), d, rng.randint(1, 4), heads, rng.randint(8, 200), rng.randint(4, 128)


@pytest.mark.parametrize("seed", range(6))
def test_decoder_params_equal_gpt2(seed):
    rng = random.Random(seed)
    vocab, d, layers, heads, d_ff, ctx = _dims(rng)
    tied = seed % 2 == 0
    cfg = GPT2Config(vocab_size=vocab, n_embd=d, n_layer=layers, n_head=heads, n_inner=d_ff, n_positions=ctx,
                     tie_word_embeddings=tied, bos_token_id=0, eos_token_id=0)
    with torch.device("meta"):
        model = GPT2LMHeadModel(cfg)
    assert count(model) == decoder_params(vocab, d, layers, heads, d_ff, ctx, tied=tied)


@pytest.mark.parametrize("seed", range(8))
def test_decoder_params_equal_llama(seed):
    rng = random.Random(100 + seed)
    vocab, d, layers, heads, d_ff, ctx = _dims(rng)
    kv = rng.choice([k for k in (1, 2, 4, 8) if heads % k == 0])
    head_dim = rng.choice([None, rng.choice([4, 6, 12])])
    tied, attn_bias, mlp_bias = seed % 2 == 0, seed % 3 == 0, seed % 4 == 1
    cfg = LlamaConfig(vocab_size=vocab, hidden_size=d, num_hidden_layers=layers, num_attention_heads=heads,
                      num_key_value_heads=kv, intermediate_size=d_ff, max_position_embeddings=ctx,
                      head_dim=head_dim, tie_word_embeddings=tied, attention_bias=attn_bias, mlp_bias=mlp_bias,
                      bos_token_id=0, eos_token_id=1, pad_token_id=2)
    with torch.device("meta"):
        model = LlamaForCausalLM(cfg)
    common = {"tied": tied, "n_kv_heads": kv, "head_dim": head_dim, "learned_positions": False,
              "gated_mlp": True, "norm": "rmsnorm"}
    if attn_bias == mlp_bias:
        assert count(model) == decoder_params(vocab, d, layers, heads, d_ff, ctx, bias=attn_bias, **common)
    else:  # the formula has one bias switch: the two partial cases bracket the model
        no_bias = decoder_params(vocab, d, layers, heads, d_ff, ctx, bias=False, **common)
        all_bias = decoder_params(vocab, d, layers, heads, d_ff, ctx, bias=True, **common)
        assert no_bias < count(model) < all_bias


@pytest.mark.parametrize("seed", range(6))
def test_encoder_params_equal_bert(seed):
    rng = random.Random(200 + seed)
    vocab, d, layers, heads, d_ff, ctx = _dims(rng)
    types, pooler = rng.randint(1, 3), seed % 2 == 0
    cfg = BertConfig(vocab_size=vocab, hidden_size=d, num_hidden_layers=layers, num_attention_heads=heads,
                     intermediate_size=d_ff, max_position_embeddings=ctx, type_vocab_size=types, pad_token_id=0)
    with torch.device("meta"):
        model = BertModel(cfg, add_pooling_layer=pooler)
    assert count(model) == encoder_params(vocab, d, layers, heads, d_ff, ctx, type_vocab_size=types, pooler=pooler)


@pytest.mark.parametrize("seed", range(4))
def test_encoder_decoder_params_equal_torch_transformer(seed):
    rng = random.Random(300 + seed)
    vocab, d, _, heads, d_ff, _ = _dims(rng)
    n_enc, n_dec = rng.randint(1, 3), rng.randint(1, 3)
    with torch.device("meta"):
        core = torch.nn.Transformer(d, heads, n_enc, n_dec, d_ff, batch_first=True)
    shared = vocab * d  # one embedding matrix, reused by the output projection
    assert count(core) + shared == encoder_decoder_params(vocab, d, n_enc, n_dec, heads, d_ff, final_norms=True)
    assert encoder_decoder_params(vocab, d, n_enc, n_dec, heads, d_ff, shared_embeddings=False,
                                  final_norms=True) == count(core) + 3 * shared


def test_the_published_sizes():
    assert decoder_params(50257, 768, 12, 12, 3072, 1024) == 124_439_808
    assert encoder_params(30522, 768, 12, 12, 3072, 512) == 109_482_240
    base = encoder_decoder_params(37000, 512, 6, 6, 8, 2048)
    assert abs(base - 65e6) / 65e6 < 0.03  # Vaswani et al. 2017, Table 3: 65 x 10^6
    llama = decoder_params(32000, 4096, 32, 32, 11008, 4096, tied=False, bias=False, learned_positions=False,
                           gated_mlp=True, norm="rmsnorm")
    assert llama == 6_738_415_616


def test_kv_cache_bytes_equal_a_real_cache():
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                      num_attention_heads=4, num_key_value_heads=2, bos_token_id=0, eos_token_id=1, pad_token_id=2)
    model = LlamaForCausalLM(cfg).eval()
    with torch.no_grad():
        cache = model(torch.randint(0, 64, (2, 7)), use_cache=True).cache
    real = sum(t.numel() * t.element_size() for layer in cache.layers for t in (layer.keys, layer.values))
    assert real == kv_cache_bytes(3, 2, 8, tokens=7, batch=2, bytes_per_value=4)


def test_memory_arithmetic():
    assert sum(training_bytes_per_param().values()) == 16
    assert sum(training_bytes_per_param(mixed_precision=True).values()) == 16
    assert [weight_bytes(10, t) for t in ("fp32", "bf16", "int8", "int4")] == [40, 20, 10, 5]
    assert activation_bytes_estimate(1, 8, 2, 4) == 34 * 4 * 8 + 5 * 2 * 16


@pytest.mark.parametrize(("s", "b", "h", "a"), [(4, 1, 8, 2), (2048, 1, 12288, 96), (4096, 2, 4096, 32)])
def test_activations_reproduce_korthikanti_for_gpt3_and_drop_their_terms_for_llama(s, b, h, a):
    """The component count gives Korthikanti et al.'s sbh(34 + 5as/h) for their GPT-3 block (GELU, d_ff = 4h,
    dropout, attention weights kept), and for a Llama block (SwiGLU, no dropout) 16sbh + 8sbf + 2as^2b,
    or 16sbh + 8sbf + 4asb with a fused attention kernel."""
    sbh = s * b * h
    assert activation_bytes_estimate(3, h, a, s, b) == 3 * (34 * sbh + 5 * a * s * s * b)
    f = 11008 if h == 4096 else 3 * h
    llama = {"d_ff": f, "mlp": "swiglu", "dropout": False}
    assert activation_bytes_estimate(1, h, a, s, b, **llama) == 16 * sbh + 8 * s * b * f + 2 * a * s * s * b
    fused = activation_bytes_estimate(1, h, a, s, b, fused_attention=True, **llama)
    assert fused == 16 * sbh + 8 * s * b * f + 4 * a * s * b
    # grouped-query attention keeps fewer keys and values: 4sb(h - h_kv) bytes less per layer
    gqa = activation_bytes_estimate(1, h, a, s, b, n_kv_heads=a // 2, **llama)
    assert activation_bytes_estimate(1, h, a, s, b, **llama) - gqa == 4 * s * b * (h - h // 2)


def test_llama_2_7b_activation_figures_on_the_page():
    """counting.md: one 4,096-token sequence of Llama 2 7B, with and without a fused attention kernel,
    against the GPT-3 constants that the page used to apply to it."""
    llama = {"d_ff": 11008, "mlp": "swiglu", "dropout": False}
    gb = lambda n: round(n / 1e9, 2)
    assert gb(activation_bytes_estimate(32, 4096, 32, 4096, **llama)) == 54.49
    assert gb(activation_bytes_estimate(32, 4096, 32, 4096, fused_attention=True, **llama)) == 20.15
    assert gb(activation_bytes_estimate(32, 4096, 32, 4096)) == 104.15


@pytest.mark.parametrize(("call", "error", "name"), [
    (lambda: decoder_params(0, 8, 1, 2, 8, 4), ValueError, "vocab_size"),
    (lambda: decoder_params(10, 8.0, 1, 2, 8, 4), TypeError, "d_model"),
    (lambda: decoder_params(10, 10, 1, 4, 8, 4), ValueError, "d_model"),
    (lambda: decoder_params(10, 8, 1, 4, 8, 4, n_kv_heads=3), ValueError, "n_kv_heads"),
    (lambda: decoder_params(10, 8, 1, 2, 8, 4, norm="batchnorm"), ValueError, "norm"),
    (lambda: decoder_params(10, 8, True, 2, 8, 4), TypeError, "n_layers"),
    (lambda: encoder_params(10, 8, 1, 2, 8, 4, type_vocab_size=-1), ValueError, "type_vocab_size"),
    (lambda: encoder_decoder_params(10, 8, 0, 1, 2, 8), ValueError, "n_encoder_layers"),
    (lambda: weight_bytes(10, "int3"), ValueError, "dtype"),
    (lambda: weight_bytes(-1, "fp32"), ValueError, "n_params"),
    (lambda: kv_cache_bytes(1, 1, 8, 4, bytes_per_value=0), ValueError, "bytes_per_value"),
    (lambda: kv_cache_bytes(1, 0, 8, 4), ValueError, "n_kv_heads"),
    (lambda: training_bytes_per_param("yes"), TypeError, "mixed_precision"),
    (lambda: activation_bytes_estimate(1, 8, 2, 0), ValueError, "tokens"),
    (lambda: activation_bytes_estimate(1, 8, 2, 4, mlp="relu"), ValueError, "mlp"),
    (lambda: activation_bytes_estimate(1, 8, 2, 4, d_ff=0), ValueError, "d_ff"),
    (lambda: activation_bytes_estimate(1, 8, 2, 4, dropout=1), TypeError, "dropout"),
    (lambda: activation_bytes_estimate(1, 8, 3, 4), ValueError, "d_model"),
])
def test_bad_input_is_rejected(call, error, name):
    with pytest.raises(error, match=name):
        call()
