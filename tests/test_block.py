"""genai_guide.block against PyTorch and transformers, on random inputs in float32.

- activations, feed-forward networks and norms: within 1e-6 (absolute, plus 1e-6 relative for the
  few outputs above 1, where one float32 rounding step is already ~1e-7 to 1e-6);
- decoder blocks (attention + MLP + norms + residuals): within 1e-5 absolute, against
  `transformers`' `GPT2Block` and `torch.nn.TransformerEncoderLayer`, in eval mode.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from genai_guide.block import (
    DecoderBlock,
    FeedForward,
    LayerNorm,
    RMSNorm,
    SwiGLUFeedForward,
    gelu,
    gpt2_block_parameter_count,
    relu,
    silu,
)

TOL = {"atol": 1e-6, "rtol": 1e-6}
BLOCK_TOL = {"atol": 1e-5, "rtol": 0}
SHAPES = [(1,), (7,), (3, 16), (2, 5, 64), (2, 3, 4, 768)]


def _randomize(module: nn.Module, gen: torch.Generator) -> None:
    """Replace every parameter with random values, so that no bias is zero and no gain is one.

    Default initialisations would make the test weak: GPT-2's std 0.02 makes the attention and
    MLP outputs almost vanish next to the residual path. Matrices get the Xavier scale
    sqrt(2 / (n_in + n_out)) (the same for `nn.Linear` and GPT-2's transposed `Conv1D`),
    which keeps every activation near unit scale, where float32 rounds to about 1e-7.
    """
    with torch.no_grad():
        for name, p in module.named_parameters():
            if p.dim() >= 2:
                p.copy_((2 / sum(p.shape)) ** 0.5 * torch.randn(p.shape, generator=gen))
            elif "ln" in name or "norm" in name:
                p.copy_((1.0 if name.endswith("weight") else 0.0) + 0.2 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(0.2 * torch.randn(p.shape, generator=gen))


# ---- activations ---------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_activations_equal_torch(shape, seed):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=gen)
    torch.testing.assert_close(relu(x), F.relu(x), atol=0, rtol=0)
    torch.testing.assert_close(gelu(x), F.gelu(x), **TOL)
    torch.testing.assert_close(gelu(x, approximate="tanh"), F.gelu(x, approximate="tanh"), **TOL)
    torch.testing.assert_close(silu(x), F.silu(x), **TOL)


def test_activations_equal_torch_in_float64_over_a_wide_range():
    """In the far negative tail, 1 + erf(x) cancels and float32 keeps few digits (both libraries
    are ~1e-6 off there), so the formulas are compared where rounding cannot hide a difference."""
    x = torch.linspace(-10, 10, 4001, dtype=torch.float64)
    torch.testing.assert_close(gelu(x), F.gelu(x), atol=1e-12, rtol=0)
    torch.testing.assert_close(gelu(x, approximate="tanh"), F.gelu(x, approximate="tanh"), atol=1e-12, rtol=0)
    torch.testing.assert_close(silu(x), F.silu(x), atol=1e-12, rtol=0)


def test_gpt2_gelu_new_is_the_tanh_approximation():
    from transformers.activations import ACT2FN

    x = torch.linspace(-8, 8, 2001)
    torch.testing.assert_close(gelu(x, approximate="tanh"), ACT2FN["gelu_new"](x), **TOL)
    gap = (gelu(x) - gelu(x, approximate="tanh")).abs().max().item()
    assert 1e-4 < gap < 1e-3, "the two GELU forms are close, but not equal"


# ---- feed-forward networks -----------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("activation,reference", [("relu", nn.ReLU()), ("gelu", nn.GELU()),
                                                  ("gelu_tanh", nn.GELU(approximate="tanh"))])
@pytest.mark.parametrize("d_model,d_ff", [(8, None), (16, 24), (64, None)])
def test_feed_forward_equals_torch(d_model, d_ff, activation, reference, seed):
    gen = torch.Generator().manual_seed(seed)
    ffn = FeedForward(d_model, d_ff, activation=activation)
    _randomize(ffn, gen)
    ref = nn.Sequential(ffn.w1, reference, ffn.w2)  # the same Linear modules, torch's activation
    x = torch.randn(2, 5, d_model, generator=gen)
    torch.testing.assert_close(ffn(x), ref(x), **TOL)
    width = 4 * d_model if d_ff is None else d_ff
    assert sum(p.numel() for p in ffn.parameters()) == 2 * d_model * width + width + d_model
    if d_ff is None:
        assert sum(p.numel() for p in ffn.parameters()) == 8 * d_model**2 + 5 * d_model


@pytest.mark.parametrize("seed", range(3))
def test_feed_forward_equals_gpt2_mlp(seed):
    from transformers import GPT2Config
    from transformers.models.gpt2.modeling_gpt2 import GPT2MLP

    gen = torch.Generator().manual_seed(seed)
    d = 32
    ref = GPT2MLP(4 * d, GPT2Config(n_embd=d, n_head=4, resid_pdrop=0.0)).eval()
    _randomize(ref, gen)
    ffn = FeedForward(d, activation="gelu_tanh")
    with torch.no_grad():  # GPT-2's Conv1D stores (in, out): transpose into nn.Linear's (out, in)
        ffn.w1.weight.copy_(ref.c_fc.weight.T)
        ffn.w1.bias.copy_(ref.c_fc.bias)
        ffn.w2.weight.copy_(ref.c_proj.weight.T)
        ffn.w2.bias.copy_(ref.c_proj.bias)
    x = torch.randn(3, 7, d, generator=gen)
    torch.testing.assert_close(ffn(x), ref(x), **TOL)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("d_model,d_ff", [(8, 16), (24, 64), (64, 172)])
def test_swiglu_equals_llama_mlp(d_model, d_ff, seed):
    from transformers import LlamaConfig
    from transformers.models.llama.modeling_llama import LlamaMLP

    gen = torch.Generator().manual_seed(seed)
    config = LlamaConfig(hidden_size=d_model, intermediate_size=d_ff, hidden_act="silu", num_attention_heads=1,
                         num_key_value_heads=1, vocab_size=8, bos_token_id=0, eos_token_id=1)
    ref = LlamaMLP(config)
    _randomize(ref, gen)
    ours = SwiGLUFeedForward(d_model, d_ff)
    ours.load_state_dict(ref.state_dict(), strict=True)  # same names, same layouts
    x = torch.randn(2, 5, d_model, generator=gen)
    torch.testing.assert_close(ours(x), ref(x), **TOL)
    assert sum(p.numel() for p in ours.parameters()) == 3 * d_model * d_ff


# ---- normalization -------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("eps", [1e-5, 1e-6])
def test_layer_norm_equals_torch(shape, eps, seed):
    gen = torch.Generator().manual_seed(seed)
    d = shape[-1]
    ref = nn.LayerNorm(d, eps=eps)
    _randomize(ref, gen)
    ours = LayerNorm(d, eps=eps)
    ours.load_state_dict(ref.state_dict(), strict=True)
    for x in (torch.randn(shape, generator=gen), 4 * torch.randn(shape, generator=gen) + 3):
        torch.testing.assert_close(ours(x), ref(x), **TOL)


def test_layer_norm_output_has_zero_mean_and_unit_variance():
    x = 5 * torch.randn(4, 9, 32) - 2
    y = LayerNorm(32)(x)
    torch.testing.assert_close(y.mean(-1), torch.zeros(4, 9), atol=1e-6, rtol=0)
    torch.testing.assert_close(y.var(-1, unbiased=False), torch.ones(4, 9), atol=1e-4, rtol=0)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("eps", [1e-5, 1e-6])
def test_rms_norm_equals_torch_and_llama(shape, eps, seed):
    from transformers.models.llama.modeling_llama import LlamaRMSNorm

    gen = torch.Generator().manual_seed(seed)
    d = shape[-1]
    ref = nn.RMSNorm(d, eps=eps)
    _randomize(ref, gen)
    llama = LlamaRMSNorm(d, eps=eps)
    ours = RMSNorm(d, eps=eps)
    ours.load_state_dict(ref.state_dict(), strict=True)
    llama.load_state_dict(ref.state_dict(), strict=True)
    for x in (torch.randn(shape, generator=gen), 4 * torch.randn(shape, generator=gen) + 3):
        torch.testing.assert_close(ours(x), ref(x), **TOL)
        torch.testing.assert_close(ours(x), llama(x), **TOL)


def test_rms_norm_in_bfloat16_matches_llama_exactly():
    """Both compute in float32 and round once at the end: the same bits."""
    from transformers.models.llama.modeling_llama import LlamaRMSNorm

    x = (3 * torch.randn(4, 64)).bfloat16()
    ours, llama = RMSNorm(64), LlamaRMSNorm(64)
    with torch.no_grad():
        ours.weight.normal_()
        llama.weight.copy_(ours.weight)
    assert torch.equal(ours(x), llama(x))


def test_rms_norm_differs_from_layer_norm_unless_the_mean_is_zero():
    x = torch.randn(6, 16) + 2.0
    assert not torch.allclose(RMSNorm(16)(x), LayerNorm(16)(x), atol=1e-2)
    centred = x - x.mean(-1, keepdim=True)
    torch.testing.assert_close(RMSNorm(16, eps=1e-5)(centred), LayerNorm(16, eps=1e-5)(centred), **TOL)


# ---- the decoder block ---------------------------------------------------------------------------


def _gpt2_block(d: int, n_head: int, n_inner: int | None, activation: str, attn_implementation: str):
    from transformers import GPT2Config
    from transformers.models.gpt2.modeling_gpt2 import GPT2Block

    config = GPT2Config(n_embd=d, n_head=n_head, n_inner=n_inner, n_layer=1, activation_function=activation,
                        resid_pdrop=0.0, attn_pdrop=0.0, embd_pdrop=0.0, attn_implementation=attn_implementation)
    return GPT2Block(config, layer_idx=0).eval()


def _additive_causal_mask(t: int) -> torch.Tensor:
    return torch.full((t, t), float("-inf")).triu(1)[None, None]  # (1, 1, T, T): 0 allowed, -inf future


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize(
    "d,n_head,n_inner,activation",
    [(16, 1, None, "gelu_new"), (32, 4, None, "gelu_new"), (48, 6, 80, "gelu_pytorch_tanh"),
     (64, 8, None, "gelu"), (24, 3, None, "relu")],
)
@pytest.mark.parametrize("attn_implementation", ["eager", "sdpa"])
def test_decoder_block_equals_gpt2_block(d, n_head, n_inner, activation, attn_implementation, seed):
    gen = torch.Generator().manual_seed(seed)
    ref = _gpt2_block(d, n_head, n_inner, activation, attn_implementation)
    _randomize(ref, gen)
    ours = DecoderBlock.from_gpt2_block(ref)
    assert not ours.training
    x = torch.randn(3, 9, d, generator=gen)
    # eager needs the causal mask GPT2Model would pass; sdpa assumes causal when it gets none
    mask = _additive_causal_mask(9) if attn_implementation == "eager" else None
    with torch.no_grad():
        expected = ref(x, attention_mask=mask)
        got = ours(x)
    assert isinstance(expected, torch.Tensor)  # transformers 5.x: the block returns a tensor, not a tuple
    assert (expected - x).abs().max() > 0.5, "the sublayers must change the input, or the test proves nothing"
    torch.testing.assert_close(got, expected, **BLOCK_TOL)
    n_params = sum(p.numel() for p in ours.parameters())
    assert n_params == sum(p.numel() for p in ref.parameters())
    if n_inner is None:
        assert n_params == gpt2_block_parameter_count(d) == 12 * d**2 + 13 * d


def test_standalone_eager_gpt2_block_without_a_mask_is_not_causal():
    """The pitfall the chapter warns about: the mask comes from GPT2Model, not from the block."""
    gen = torch.Generator().manual_seed(0)
    ref = _gpt2_block(16, 2, None, "gelu_new", "eager")
    _randomize(ref, gen)
    x = torch.randn(1, 6, 16, generator=gen)
    with torch.no_grad():
        assert not torch.allclose(DecoderBlock.from_gpt2_block(ref)(x), ref(x), atol=1e-3)


def test_decoder_block_is_causal():
    gen = torch.Generator().manual_seed(0)
    for norm_first in (True, False):
        block = DecoderBlock(16, 4, norm_first=norm_first).eval()
        _randomize(block, gen)
        x = torch.randn(2, 6, 16, generator=gen)
        changed = x.clone()
        changed[:, 4:] = torch.randn(2, 2, 16, generator=gen)  # new last two tokens
        y, y_changed = block(x), block(changed)
        torch.testing.assert_close(y[:, :4], y_changed[:, :4], atol=1e-6, rtol=0)
        assert (y[:, 4:] - y_changed[:, 4:]).abs().max() > 1e-2


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("norm_first", [False, True], ids=["post-norm", "pre-norm"])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_decoder_block_equals_torch_transformer_encoder_layer(norm_first, activation, seed):
    gen = torch.Generator().manual_seed(seed)
    d, h, t = 32, 4, 7
    layer = nn.TransformerEncoderLayer(d, h, dim_feedforward=3 * d, dropout=0.0, activation=activation,
                                       batch_first=True, norm_first=norm_first).eval()
    _randomize(layer, gen)
    ours = DecoderBlock.from_torch(layer)
    assert ours.norm_first == norm_first
    x = torch.randn(2, t, d, generator=gen)
    causal = nn.Transformer.generate_square_subsequent_mask(t)  # float mask, -inf above the diagonal
    expected = layer(x, src_mask=causal, is_causal=True)
    torch.testing.assert_close(ours(x), expected, **BLOCK_TOL)
    with torch.no_grad():  # PyTorch's fused inference path must agree too
        torch.testing.assert_close(ours(x), layer(x, src_mask=causal, is_causal=True), **BLOCK_TOL)


def test_pre_norm_and_post_norm_differ():
    gen = torch.Generator().manual_seed(0)
    pre = DecoderBlock(16, 2)
    _randomize(pre, gen)
    post = DecoderBlock(16, 2, norm_first=False)
    post.load_state_dict(pre.state_dict())
    x = torch.randn(1, 5, 16, generator=gen)
    assert not torch.allclose(pre(x), post(x), atol=1e-2)
    y = post(x)  # post-norm ends in a layer norm: its output is normalized
    torch.testing.assert_close(((y - pre.ln_2.bias) / pre.ln_2.weight).mean(-1), torch.zeros(1, 5), atol=1e-5, rtol=0)


def test_gpt2_small_block_parameter_count():
    assert gpt2_block_parameter_count(768) == 7_087_872


# ---- bad input -----------------------------------------------------------------------------------


def _gpt2_block_with(**options):
    from transformers import GPT2Config
    from transformers.models.gpt2.modeling_gpt2 import GPT2Block

    return GPT2Block(GPT2Config(n_embd=8, n_head=2, attn_implementation="eager", **options), layer_idx=0)


@pytest.mark.parametrize(
    "call,error,argument",
    [
        (lambda: relu([1.0, -1.0]), TypeError, "x"),
        (lambda: gelu(torch.arange(3)), TypeError, "x"),
        (lambda: gelu(torch.ones(3), approximate="sigmoid"), ValueError, "approximate"),
        (lambda: silu(None), TypeError, "x"),
        (lambda: FeedForward(0), ValueError, "d_model"),
        (lambda: FeedForward(8.0), TypeError, "d_model"),
        (lambda: FeedForward(8, d_ff=-1), ValueError, "d_ff"),
        (lambda: FeedForward(8, activation="tanh"), ValueError, "activation"),
        (lambda: FeedForward(8)(torch.ones(2, 6)), ValueError, "x"),
        (lambda: FeedForward(8)(torch.ones(2, 8, dtype=torch.long)), TypeError, "x"),
        (lambda: SwiGLUFeedForward(8, 0), ValueError, "d_ff"),
        (lambda: SwiGLUFeedForward(8, 16)(torch.ones(2, 16)), ValueError, "x"),
        (lambda: LayerNorm(True), TypeError, "d"),
        (lambda: LayerNorm(8, eps=0.0), ValueError, "eps"),
        (lambda: LayerNorm(8, eps="1e-5"), TypeError, "eps"),
        (lambda: LayerNorm(8)(torch.ones(3, 4)), ValueError, "x"),
        (lambda: LayerNorm(8)(torch.ones(8, dtype=torch.int32)), TypeError, "x"),
        (lambda: RMSNorm(-2), ValueError, "d"),
        (lambda: RMSNorm(8)(torch.ones(())), ValueError, "x"),
        (lambda: RMSNorm(8)(torch.ones(2, 8).numpy()), TypeError, "x"),
        (lambda: DecoderBlock(10, 3), ValueError, "n_heads"),
        (lambda: DecoderBlock(8, 0), ValueError, "n_heads"),
        (lambda: DecoderBlock(8, 2, eps=-1.0), ValueError, "eps"),
        (lambda: DecoderBlock(8, 2, activation="swish"), ValueError, "activation"),
        (lambda: DecoderBlock(8, 2)(torch.ones(2, 3, 6)), ValueError, "x"),
        (lambda: DecoderBlock(8, 2)(torch.ones(3, 8)), ValueError, "x"),
        (lambda: DecoderBlock(8, 2)(torch.ones(1, 3, 8, dtype=torch.long)), TypeError, "x"),
        (lambda: gpt2_block_parameter_count(0), ValueError, "d_model"),
        (lambda: DecoderBlock.from_gpt2_block(nn.Linear(8, 8)), TypeError, "block"),
        (lambda: DecoderBlock.from_gpt2_block(_gpt2_block_with(activation_function="silu")), ValueError,
         "activation_function"),
        (lambda: DecoderBlock.from_gpt2_block(_gpt2_block_with(add_cross_attention=True)), ValueError,
         "add_cross_attention"),
        (lambda: DecoderBlock.from_gpt2_block(_gpt2_block_with(scale_attn_by_inverse_layer_idx=True)), ValueError,
         "scale_attn_by_inverse_layer_idx"),
        (lambda: DecoderBlock.from_torch(nn.Linear(8, 8)), TypeError, "layer"),
        (lambda: DecoderBlock.from_torch(nn.TransformerEncoderLayer(8, 2, batch_first=False)), ValueError,
         "batch_first"),
        (lambda: DecoderBlock.from_torch(nn.TransformerEncoderLayer(8, 2, activation=torch.tanh, batch_first=True)),
         ValueError, "activation"),
    ],
)
def test_bad_input_is_rejected_with_a_clear_message(call, error, argument):
    with pytest.raises(error, match=argument):
        call()
