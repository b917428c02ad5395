"""genai_guide.lora against peft on tiny transformers models: outputs and gradients within 1e-6 in float32
(dropout included), merge/unmerge and merge_and_unload within 1e-6, parameter counts exactly equal to
peft's get_nb_trainable_parameters, the paper's initialisation, and bad input rejected."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from peft import LoraConfig, get_peft_model
from torch import nn
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM, LlamaConfig, LlamaForCausalLM

from genai_guide.gpt import GPT, GPTConfig
from genai_guide.lora import LoRALinear, count_parameters, inject_lora, merge_lora, unload_lora
from genai_guide.nf4 import NF4Linear, quantize_linears

TOL = {"atol": 1e-6, "rtol": 0}
LLAMA_LINEARS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models: extra threads only add overhead, and spin on a busy CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def llama(seed: int = 0, kv_heads: int = 4) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=96, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=kv_heads, bos_token_id=0, eos_token_id=1,
                         pad_token_id=2)
    return LlamaForCausalLM(config)


def neox(seed: int = 0) -> GPTNeoXForCausalLM:
    torch.manual_seed(seed)
    config = GPTNeoXConfig(vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=4, bos_token_id=0, eos_token_id=1, pad_token_id=2)
    return GPTNeoXForCausalLM(config)


def paired(base: nn.Module, targets, r, alpha, dropout=0.0, use_rslora=False, seed=0):
    """The same model twice, adapted by peft and by genai_guide.lora, with the same (non-zero) LoRA weights."""
    theirs = get_peft_model(copy.deepcopy(base), LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout,
                                                            target_modules=list(targets), use_rslora=use_rslora))
    ours = copy.deepcopy(base)
    names = inject_lora(ours, targets, r=r, alpha=alpha, dropout=dropout, use_rslora=use_rslora)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name in names:
            ref = theirs.base_model.model.get_submodule(name)
            ref.lora_B["default"].weight.copy_(torch.randn(ref.lora_B["default"].weight.shape, generator=gen) * 0.2)
            mine = ours.get_submodule(name)
            mine.lora_A.copy_(ref.lora_A["default"].weight)
            mine.lora_B.copy_(ref.lora_B["default"].weight)
            assert mine.scaling == pytest.approx(ref.scaling["default"], rel=1e-15)
    return ours, theirs, names


CASES = [  # (model factory, targets, r, alpha, dropout, use_rslora)
    (llama, ["q_proj", "v_proj"], 4, 8, 0.0, False),
    (llama, LLAMA_LINEARS, 8, 16, 0.1, False),
    (llama, ["k_proj", "down_proj"], 2, 3.5, 0.0, True),
    (lambda seed: llama(seed, kv_heads=2), ["q_proj", "k_proj", "v_proj"], 16, 4, 0.2, True),
    (neox, ["query_key_value", "dense_4h_to_h"], 4, 8, 0.05, False),
]


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{'+'.join(c[1])}-r{c[2]}-a{c[3]}-p{c[4]}-rs{c[5]}")
def test_outputs_and_gradients_equal_peft(case, seed):
    factory, targets, r, alpha, dropout, rslora = case
    ours, theirs, names = paired(factory(seed), targets, r, alpha, dropout, rslora, seed)
    ids = torch.randint(3, 96, (3, 10), generator=torch.Generator().manual_seed(seed))
    for mode in ("eval", "train"):  # train: dropout masks drawn from the same seed
        getattr(ours, mode)()
        getattr(theirs, mode)()
        for model in (ours, theirs):
            model.zero_grad()
        torch.manual_seed(100 + seed)
        a = ours(ids).logits
        torch.manual_seed(100 + seed)
        b = theirs(input_ids=ids).logits
        torch.testing.assert_close(a, b, **TOL)
        a.square().mean().backward()
        b.square().mean().backward()
        for name in names:
            mine, ref = ours.get_submodule(name), theirs.base_model.model.get_submodule(name)
            torch.testing.assert_close(mine.lora_A.grad, ref.lora_A["default"].weight.grad, **TOL)
            torch.testing.assert_close(mine.lora_B.grad, ref.lora_B["default"].weight.grad, **TOL)
            assert mine.base.weight.grad is None


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{'+'.join(c[1])}-r{c[2]}")
def test_parameter_counts_equal_peft(case):
    factory, targets, r, alpha, dropout, rslora = case
    ours, theirs, _ = paired(factory(0), targets, r, alpha, dropout, rslora)
    assert count_parameters(ours) == theirs.get_nb_trainable_parameters()
    trainable = [n for n, p in ours.named_parameters() if p.requires_grad]
    assert trainable and all(n.endswith(("lora_A", "lora_B")) for n in trainable)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{'+'.join(c[1])}-r{c[2]}")
def test_merge_unmerge_and_merge_and_unload_equal_peft(case):
    factory, targets, r, alpha, dropout, rslora = case
    base = factory(1)
    ours, theirs, names = paired(base, targets, r, alpha, dropout, rslora, seed=1)
    ours.eval(), theirs.eval()
    ids = torch.randint(3, 96, (2, 9), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        adapter_logits = ours(ids).logits
        for name in names:
            ours.get_submodule(name).merge()
        theirs.merge_adapter()
        for name in names:
            torch.testing.assert_close(ours.get_submodule(name).base.weight,
                                       theirs.base_model.model.get_submodule(name).base_layer.weight, **TOL)
        torch.testing.assert_close(ours(ids).logits, theirs(input_ids=ids).logits, **TOL)
        torch.testing.assert_close(ours(ids).logits, adapter_logits, atol=1e-5, rtol=0)
        for name in names:
            ours.get_submodule(name).unmerge()
        theirs.unmerge_adapter()
        for name in names:  # the round trip gives the original weights back
            original = base.get_submodule(name).weight
            torch.testing.assert_close(ours.get_submodule(name).base.weight, original, **TOL)
            torch.testing.assert_close(theirs.base_model.model.get_submodule(name).base_layer.weight, original, **TOL)
        torch.testing.assert_close(ours(ids).logits, adapter_logits, **TOL)
        plain_ours, plain_theirs = merge_lora(ours), theirs.merge_and_unload()
        assert type(plain_ours) is type(plain_theirs) is type(base)
        assert not any(isinstance(m, LoRALinear) for m in plain_ours.modules())
        ref = plain_theirs.state_dict()
        assert plain_ours.state_dict().keys() == ref.keys() == base.state_dict().keys()
        for key, value in plain_ours.state_dict().items():
            torch.testing.assert_close(value, ref[key], **TOL)
        torch.testing.assert_close(plain_ours(ids).logits, plain_theirs(input_ids=ids).logits, **TOL)


def test_initialisation_like_peft_and_starts_at_the_base_layer():
    torch.manual_seed(0)
    base = nn.Linear(300, 40)
    layer = LoRALinear(base, r=6, alpha=12)
    ref = get_peft_model(nn.Sequential(copy.deepcopy(base)), LoraConfig(r=6, lora_alpha=12, target_modules=["0"]))
    ref_A = ref.base_model.model[0].lora_A["default"].weight
    bound = 1 / math.sqrt(300)  # kaiming_uniform_(a=sqrt(5)) on fan_in 300
    for A in (layer.lora_A, ref_A):
        assert A.shape == (6, 300) and A.abs().max() <= bound and A.abs().max() > 0.9 * bound
        assert abs(A.mean().item()) < 0.1 * bound and A.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.1)
    assert torch.equal(layer.lora_B, torch.zeros(40, 6))
    assert torch.equal(ref.base_model.model[0].lora_B["default"].weight, torch.zeros(40, 6))
    x = torch.randn(5, 300)
    assert torch.equal(layer(x), base(x))
    assert layer.scaling == 2.0 and LoRALinear(nn.Linear(4, 4), r=4, alpha=8, use_rslora=True).scaling == 4.0
    assert not base.weight.requires_grad and not base.bias.requires_grad


def test_delta_weight_has_rank_r_and_matches_the_formula():
    torch.manual_seed(0)
    layer = LoRALinear(nn.Linear(20, 30), r=3, alpha=6)
    with torch.no_grad():
        layer.lora_B.normal_()
    expected = 2.0 * layer.lora_B @ layer.lora_A
    torch.testing.assert_close(layer.delta_weight(), expected, **TOL)
    assert torch.linalg.matrix_rank(layer.delta_weight()) == 3
    x = torch.randn(4, 7, 20)
    torch.testing.assert_close(layer(x), x @ (layer.base.weight + expected).T + layer.base.bias, atol=1e-5, rtol=0)


def test_unload_gives_back_the_base_and_gpt_targets_work():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=20, context_length=8, d_model=16, n_layers=2, n_heads=2))
    ids = torch.randint(0, 20, (2, 8))
    with torch.no_grad():
        before = model(ids)
    names = inject_lora(model, ["qkv", "fc"], r=2, alpha=4)
    assert names == ["blocks.0.attn.qkv", "blocks.0.mlp.fc", "blocks.1.attn.qkv", "blocks.1.mlp.fc"]
    with torch.no_grad():
        for name in names:
            model.get_submodule(name).lora_B.normal_()
        assert not torch.allclose(model(ids), before)
        unload_lora(model)
        assert torch.equal(model(ids), before)
    assert not any(isinstance(m, LoRALinear) for m in model.modules())


def test_qlora_lora_on_nf4_base_trains_only_the_adapters():
    torch.manual_seed(0)
    model = llama()
    quantized = quantize_linears(model, blocksize=64, double_quant=True)
    assert "lm_head" not in quantized and len(quantized) == 14
    names = inject_lora(model, ["q_proj", "v_proj"], r=4, alpha=8)
    layer = model.get_submodule(names[0])
    assert isinstance(layer.base, NF4Linear)
    with torch.no_grad():
        layer.lora_B.normal_()
    x = torch.randn(2, 5, 32)
    expected = x @ (layer.base.dequantized_weight() + layer.delta_weight()).T
    torch.testing.assert_close(layer(x), expected, atol=1e-5, rtol=0)
    ids = torch.randint(3, 96, (2, 6))
    model(ids).logits.sum().backward()
    assert all((p.grad is not None) == p.requires_grad for p in model.parameters())
    assert all(p.requires_grad == ("lora_" in n) for n, p in model.named_parameters())
    with pytest.raises(TypeError, match="NF4Linear"):
        layer.merge()


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"r": 0, "alpha": 8}, ValueError, "r must be >= 1"),
        ({"r": -2, "alpha": 8}, ValueError, "r must be >= 1"),
        ({"r": 2.0, "alpha": 8}, TypeError, "r must be an int"),
        ({"r": True, "alpha": 8}, TypeError, "r must be an int"),
        ({"r": 4, "alpha": 0}, ValueError, "alpha must be > 0"),
        ({"r": 4, "alpha": -1.5}, ValueError, "alpha must be > 0"),
        ({"r": 4, "alpha": float("nan")}, TypeError, "alpha"),
        ({"r": 4, "alpha": "8"}, TypeError, "alpha"),
        ({"r": 4, "alpha": 8, "dropout": 1.0}, ValueError, "dropout"),
        ({"r": 4, "alpha": 8, "dropout": -0.1}, ValueError, "dropout"),
        ({"r": 4, "alpha": 8, "use_rslora": 1}, TypeError, "use_rslora"),
    ],
)
def test_bad_hyperparameters_are_rejected(kwargs, error, match):
    with pytest.raises(error, match=match):
        LoRALinear(nn.Linear(8, 8), **kwargs)


def test_bad_base_and_bad_input_are_rejected():
    with pytest.raises(TypeError, match="base"):
        LoRALinear(nn.Conv1d(4, 4, 1), r=2, alpha=4)
    layer = LoRALinear(nn.Linear(8, 6), r=2, alpha=4)
    with pytest.raises(ValueError, match="x must end in in_features=8"):
        layer(torch.randn(3, 7))
    with pytest.raises(TypeError, match="x"):
        layer(torch.ones(3, 8, dtype=torch.long))
    with pytest.raises(TypeError, match="x"):
        layer(torch.randn(3, 8, dtype=torch.float64))
    with pytest.raises(TypeError, match="x"):
        layer([[0.0] * 8])
    with pytest.raises(RuntimeError, match="not merged"):
        layer.unmerge()
    layer.merge()
    with pytest.raises(RuntimeError, match="already merged"):
        layer.merge()


def test_bad_targets_are_rejected():
    model = llama()
    with pytest.raises(ValueError, match="target_modules .*'qproj'.* match no module"):
        inject_lora(model, ["q_proj", "qproj"], r=2, alpha=4)
    with pytest.raises(TypeError, match="target_modules: .*input_layernorm is a LlamaRMSNorm"):
        inject_lora(model, ["input_layernorm"], r=2, alpha=4)
    with pytest.raises(TypeError, match="target_modules must be a list"):
        inject_lora(model, "q_proj", r=2, alpha=4)
    with pytest.raises(ValueError, match="target_modules must name"):
        inject_lora(model, [], r=2, alpha=4)
    with pytest.raises(ValueError, match="r must be >= 1"):
        inject_lora(model, ["q_proj"], r=0, alpha=4)
    assert not any(isinstance(m, LoRALinear) for m in model.modules())  # nothing half-done
    assert all(p.requires_grad for p in model.parameters())
    inject_lora(model, ["q_proj"], r=2, alpha=4)
    with pytest.raises(ValueError, match="already has a LoRA adapter"):
        inject_lora(model, ["q_proj"], r=2, alpha=4)
    with pytest.raises(ValueError, match="no LoRA adapters"):
        merge_lora(llama())
    with pytest.raises(TypeError, match="model"):
        count_parameters("model")
