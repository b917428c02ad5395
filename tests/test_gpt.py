"""genai_guide.gpt against transformers' GPT2LMHeadModel: the same weights give the same logits
(within 1e-5 in float32, 1e-10 in float64), the same gradients and the same greedy continuations,
in both directions of the weight conversion; bad input is rejected naming the argument."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from transformers import GPT2Config, GPT2LMHeadModel

from genai_guide.gpt import GPT, GPTConfig, generate_greedy

TOL = {"atol": 1e-5, "rtol": 0}
CONFIGS = [  # vocab, context, d_model, layers, heads, eps
    GPTConfig(vocab_size=7, context_length=1, d_model=4, n_layers=1, n_heads=1),
    GPTConfig(vocab_size=40, context_length=64, d_model=64, n_layers=2, n_heads=4),
    GPTConfig(vocab_size=101, context_length=24, d_model=48, n_layers=3, n_heads=6, layer_norm_eps=1e-6),
    GPTConfig(vocab_size=300, context_length=40, d_model=96, n_layers=4, n_heads=8),
]


def _random_weights(model: torch.nn.Module, gen: torch.Generator) -> None:
    """Larger-than-init random weights, layer norms included, so every parameter matters."""
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.3)


def _ids(gen: torch.Generator, config: GPTConfig, batch: int = 3, length: int | None = None) -> torch.Tensor:
    length = config.context_length if length is None else length
    return torch.randint(0, config.vocab_size, (batch, length), generator=gen)


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"V{c.vocab_size}-T{c.context_length}-d{c.d_model}-N{c.n_layers}-h{c.n_heads}")
def test_exported_model_gives_the_same_logits(config, seed):
    gen = torch.Generator().manual_seed(seed)
    model = GPT(config).eval()
    _random_weights(model, gen)
    gpt2 = model.to_gpt2()
    assert not gpt2.training
    for length in sorted({1, max(1, config.context_length // 2), config.context_length}):
        ids = _ids(gen, config, length=length)
        with torch.no_grad():
            torch.testing.assert_close(model(ids), gpt2(ids).logits, **TOL)


@pytest.mark.parametrize("activation", ["gelu_new", "gelu_pytorch_tanh"])
@pytest.mark.parametrize("seed", range(2))
def test_loaded_model_gives_the_same_logits(activation, seed):
    """A GPT2LMHeadModel built by transformers (its own init, default dropout), loaded into GPT."""
    torch.manual_seed(seed)
    hf_config = GPT2Config(vocab_size=61, n_positions=20, n_embd=32, n_layer=3, n_head=4,
                           activation_function=activation, bos_token_id=0, eos_token_id=0)
    gpt2 = GPT2LMHeadModel(hf_config)
    _random_weights(gpt2, torch.Generator().manual_seed(seed))
    gpt2.eval()  # GPT-2's default dropout is 0.1: compare in eval mode
    model = GPT.from_gpt2(gpt2)
    assert not model.training
    assert model.config == GPTConfig(vocab_size=61, context_length=20, d_model=32, n_layers=3, n_heads=4)
    ids = torch.randint(0, 61, (4, 20), generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        torch.testing.assert_close(model(ids), gpt2(ids).logits, **TOL)


def test_same_logits_in_float64():
    """In float64, rounding cannot hide a difference in the algorithm."""
    gen = torch.Generator().manual_seed(0)
    config = CONFIGS[2]
    model = GPT(config).eval()
    _random_weights(model, gen)
    model = model.double()
    gpt2 = model.to_gpt2()
    assert gpt2.dtype == torch.float64
    ids = _ids(gen, config)
    with torch.no_grad():
        torch.testing.assert_close(model(ids), gpt2(ids).logits, atol=1e-10, rtol=0)
    back = GPT.from_gpt2(gpt2)
    assert back.tok_emb.weight.dtype == torch.float64


def test_round_trip_is_exact_and_names_match():
    gen = torch.Generator().manual_seed(1)
    model = GPT(CONFIGS[1])
    _random_weights(model, gen)
    gpt2 = model.to_gpt2()
    exported = model.gpt2_state_dict()
    reference = gpt2.state_dict()
    assert {k: tuple(v.shape) for k, v in exported.items()} == {k: tuple(v.shape) for k, v in reference.items()}
    back = GPT.from_gpt2(gpt2)
    for (name, ours), (name_back, theirs) in zip(model.state_dict().items(), back.state_dict().items(), strict=True):
        assert name == name_back and torch.equal(ours, theirs), name
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in gpt2.parameters())


def test_head_is_tied_to_the_token_embedding():
    model = GPT(CONFIGS[1])
    assert not any("head" in name for name, _ in model.named_parameters())
    gpt2 = model.to_gpt2()
    assert gpt2.lm_head.weight.data_ptr() == gpt2.transformer.wte.weight.data_ptr()


def test_transposing_conv1d_weights_matters():
    """The check can fail: loading GPT-2's square c_proj weights without the transpose changes the logits."""
    gen = torch.Generator().manual_seed(2)
    model = GPT(CONFIGS[1]).eval()
    _random_weights(model, gen)
    gpt2 = model.to_gpt2()
    with torch.no_grad():
        w = gpt2.transformer.h[0].attn.c_proj.weight
        w.copy_(w.T.clone())  # as if the layout were forgotten
    ids = _ids(gen, CONFIGS[1])
    with torch.no_grad():
        assert (model(ids) - gpt2(ids).logits).abs().max() > 1e-2


def test_gradients_match():
    gen = torch.Generator().manual_seed(3)
    config = CONFIGS[2]
    model = GPT(config)
    _random_weights(model, gen)
    gpt2 = model.to_gpt2().train()  # dropout is 0 in the exported config, so train mode is safe
    ids = _ids(gen, config)
    F.cross_entropy(model(ids)[:, :-1].reshape(-1, config.vocab_size), ids[:, 1:].reshape(-1)).backward()
    gpt2(ids, labels=ids).loss.backward()  # transformers shifts the labels itself
    torch.testing.assert_close(model.tok_emb.weight.grad, gpt2.transformer.wte.weight.grad, **TOL)
    torch.testing.assert_close(model.blocks[1].attn.qkv.weight.grad.T, gpt2.transformer.h[1].attn.c_attn.weight.grad, **TOL)
    torch.testing.assert_close(model.blocks[0].mlp.fc.weight.grad.T, gpt2.transformer.h[0].mlp.c_fc.weight.grad, **TOL)


def test_attention_is_causal():
    gen = torch.Generator().manual_seed(4)
    config = CONFIGS[2]
    model = GPT(config).eval()
    _random_weights(model, gen)
    ids = _ids(gen, config, batch=1)
    changed = ids.clone()
    changed[0, 10:] = (changed[0, 10:] + 1) % config.vocab_size  # change the future of position 9
    with torch.no_grad():
        before, after = model(ids), model(changed)
    torch.testing.assert_close(before[:, :10], after[:, :10], atol=1e-6, rtol=0)
    assert not torch.allclose(before[:, 10:], after[:, 10:])


@pytest.mark.parametrize("seed", range(3))
def test_greedy_generation_equals_transformers(seed):
    gen = torch.Generator().manual_seed(seed)
    config = CONFIGS[3]
    model = GPT(config)
    _random_weights(model, gen)
    gpt2 = model.to_gpt2()
    prompt = _ids(gen, config, batch=2, length=5)
    ours = generate_greedy(model, prompt, max_new_tokens=15)
    theirs = gpt2.generate(prompt, attention_mask=torch.ones_like(prompt), do_sample=False, max_new_tokens=15)
    assert torch.equal(ours, theirs)
    assert model.training  # generate_greedy restores the mode it found


def test_greedy_generation_crops_to_the_context():
    gen = torch.Generator().manual_seed(5)
    config = CONFIGS[2]
    model = GPT(config).eval()
    _random_weights(model, gen)
    prompt = _ids(gen, config, batch=2, length=config.context_length + 7)  # longer than the context
    out = generate_greedy(model, prompt, max_new_tokens=3)
    assert out.shape == (2, config.context_length + 10) and torch.equal(out[:, : prompt.shape[1]], prompt)
    seq = prompt
    for _ in range(3):  # the same, step by step, on the last context_length tokens
        with torch.no_grad():
            nxt = model(seq[:, -config.context_length:])[:, -1].argmax(-1, keepdim=True)
        seq = torch.cat([seq, nxt], dim=1)
    assert torch.equal(out, seq)
    assert torch.equal(generate_greedy(model, prompt[:, :4], 0), prompt[:, :4])


def _hf(**overrides) -> GPT2LMHeadModel:
    base = {"vocab_size": 11, "n_positions": 8, "n_embd": 8, "n_layer": 1, "n_head": 2,
            "bos_token_id": 0, "eos_token_id": 0}
    return GPT2LMHeadModel(GPT2Config(**{**base, **overrides}))


TINY = GPTConfig(vocab_size=11, context_length=8, d_model=8, n_layers=1, n_heads=2)


@pytest.mark.parametrize(
    "call,error,argument",
    [
        (lambda: GPTConfig(vocab_size=0), ValueError, "vocab_size"),
        (lambda: GPTConfig(vocab_size=10.0), TypeError, "vocab_size"),
        (lambda: GPTConfig(vocab_size=10, context_length=True), TypeError, "context_length"),
        (lambda: GPTConfig(vocab_size=10, d_model=-4), ValueError, "d_model"),
        (lambda: GPTConfig(vocab_size=10, n_layers=0), ValueError, "n_layers"),
        (lambda: GPTConfig(vocab_size=10, d_model=64, n_heads=5), ValueError, "n_heads"),
        (lambda: GPTConfig(vocab_size=10, layer_norm_eps=0.0), ValueError, "layer_norm_eps"),
        (lambda: GPTConfig(vocab_size=10, layer_norm_eps="1e-5"), TypeError, "layer_norm_eps"),
        (lambda: GPT({"vocab_size": 10}), TypeError, "config"),
        (lambda: GPT(TINY)([[1, 2, 3]]), TypeError, "ids"),
        (lambda: GPT(TINY)(torch.rand(1, 3)), TypeError, "ids"),
        (lambda: GPT(TINY)(torch.tensor([1, 2, 3])), ValueError, "ids"),
        (lambda: GPT(TINY)(torch.zeros(1, 0, dtype=torch.long)), ValueError, "ids"),
        (lambda: GPT(TINY)(torch.zeros(1, 9, dtype=torch.long)), ValueError, "context_length"),
        (lambda: GPT(TINY)(torch.tensor([[1, 11]])), ValueError, "ids"),
        (lambda: GPT(TINY)(torch.tensor([[-1, 2]])), ValueError, "ids"),
        (lambda: generate_greedy(torch.nn.Linear(2, 2), torch.zeros(1, 1, dtype=torch.long), 1), TypeError, "model"),
        (lambda: generate_greedy(GPT(TINY), torch.zeros(1, 1, dtype=torch.long), -1), ValueError, "max_new_tokens"),
        (lambda: generate_greedy(GPT(TINY), torch.zeros(1, 1, dtype=torch.long), 2.0), TypeError, "max_new_tokens"),
        (lambda: generate_greedy(GPT(TINY), torch.tensor([[3, 99]]), 1), ValueError, "ids"),
        (lambda: GPT.from_gpt2(GPT(TINY)), TypeError, "model"),
        (lambda: GPT.from_gpt2(_hf(n_inner=16)), ValueError, "n_inner"),
        (lambda: GPT.from_gpt2(_hf(activation_function="relu")), ValueError, "activation_function"),
        (lambda: GPT.from_gpt2(_hf(scale_attn_by_inverse_layer_idx=True)), ValueError, "scale_attn_by_inverse_layer_idx"),
        (lambda: GPT.from_gpt2(_hf(tie_word_embeddings=False)), ValueError, "tie_word_embeddings"),
    ],
)
def test_bad_input_is_rejected(call, error, argument):
    with pytest.raises(error, match=argument):
        call()
