"""genai_guide.audio_video against transformers (EncodecModel, MusicgenForCausalLM) and torch, on seeded inputs.

RVQ: `residual_vector_quantize` equals `EncodecResidualVectorQuantizer.encode` and `EncodecModel.encode`'s
audio codes at every bandwidth; `residual_vector_dequantize` equals its `decode`; the bandwidth rule equals
`get_num_quantizers_for_bandwidth`. Delay pattern: `build_delay_pattern` equals
`MusicgenForCausalLM.build_delay_pattern_mask` after its start column, and `undo_delay_pattern` equals the
pad filter of `generate`. Receptive field: a stack of causal dilated convolutions depends on exactly
`receptive_field` inputs. Space-time attention equals `scaled_dot_product_attention` under the block mask.
Poisson field: divergence-free off the charges, a point charge's field for one charge, unit flux far away.
Bad input fails with an error naming the argument.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from transformers import EncodecConfig, EncodecModel, MusicgenDecoderConfig, MusicgenForCausalLM

from genai_guide.audio_video import (
    build_delay_pattern,
    factorized_attention,
    num_codebooks_for_bandwidth,
    poisson_field,
    receptive_field,
    residual_vector_dequantize,
    residual_vector_quantize,
    spacetime_mask,
    undo_delay_pattern,
)


def tiny_encodec(seed: int) -> EncodecModel:
    torch.manual_seed(seed)
    config = EncodecConfig(sampling_rate=4000, upsampling_ratios=[2, 2], num_filters=4, hidden_size=6,
                           num_lstm_layers=1, codebook_size=8, target_bandwidths=[1.5, 3.0, 6.0])
    model = EncodecModel(config).to(torch.float64).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in model.quantizer.layers:
            layer.codebook.embed.copy_(0.5 * torch.randn(8, 6, generator=g, dtype=torch.float64))
    return model


@pytest.mark.parametrize("seed", range(3))
def test_rvq_equals_encodec_quantizer(seed):
    model = tiny_encodec(seed)
    codebooks = torch.stack([layer.codebook.embed for layer in model.quantizer.layers])
    g = torch.Generator().manual_seed(100 + seed)
    emb = torch.randn(3, 6, 20, generator=g, dtype=torch.float64)  # (batch, dim, frames)
    ref = model.quantizer.encode(emb)  # all codebooks: (n_q, batch, frames)
    ours = residual_vector_quantize(emb.transpose(1, 2), codebooks)
    assert torch.equal(ours, ref)
    decoded = model.quantizer.decode(ref)  # (batch, dim, frames)
    assert torch.allclose(residual_vector_dequantize(ours, codebooks), decoded.transpose(1, 2), rtol=0, atol=1e-12)
    for n in range(1, codebooks.shape[0] + 1):
        assert torch.allclose(residual_vector_dequantize(ours[:n], codebooks),
                              model.quantizer.decode(ref[:n]).transpose(1, 2), rtol=0, atol=1e-12)


@pytest.mark.parametrize("bandwidth", [1.5, 3.0, 6.0])
def test_rvq_equals_encodec_encode(bandwidth):
    model = tiny_encodec(7)
    codebooks = torch.stack([layer.codebook.embed for layer in model.quantizer.layers])
    audio = torch.randn(2, 1, 400, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    with torch.no_grad():
        enc = model.encode(audio, bandwidth=bandwidth)
        latents = model.encoder(audio)
    n_q = num_codebooks_for_bandwidth(bandwidth, model.config.frame_rate, model.config.codebook_size)
    assert n_q == model.quantizer.get_num_quantizers_for_bandwidth(bandwidth) == enc.audio_codes.shape[2]
    ours = residual_vector_quantize(latents.transpose(1, 2), codebooks[:n_q])
    assert torch.equal(ours, enc.audio_codes[0].transpose(0, 1))


def test_rvq_residuals_shrink_and_single_codebook_is_nearest_neighbour():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(50, 4, generator=g, dtype=torch.float64)
    codebooks = torch.randn(3, 10, 4, generator=g, dtype=torch.float64)
    codes = residual_vector_quantize(x, codebooks)
    assert codes.shape == (3, 50) and codes.dtype == torch.int64
    assert torch.equal(codes[0], torch.cdist(x, codebooks[0]).argmin(dim=1))
    # each codebook quantizes the previous residual: the residual norms never grow when every codebook
    # holds the zero vector (the nearest entry is at most as far as zero)
    books = torch.cat([torch.zeros(3, 1, 4, dtype=torch.float64), codebooks], dim=1)
    norms = [x.norm().item()]
    for n in range(1, 4):
        norms.append((x - residual_vector_dequantize(residual_vector_quantize(x, books)[:n], books)).norm().item())
    assert all(b <= a + 1e-12 for a, b in itertools.pairwise(norms)) and norms[-1] < norms[0]


@pytest.mark.parametrize(("kbps", "expected"), [(1.5, 2), (3.0, 4), (6.0, 8), (12.0, 16), (24.0, 32), (0.1, 1)])
def test_num_codebooks_for_bandwidth(kbps, expected):
    assert num_codebooks_for_bandwidth(kbps, 75, 1024) == expected
    from transformers.models.encodec.modeling_encodec import EncodecResidualVectorQuantizer

    assert EncodecResidualVectorQuantizer(EncodecConfig()).get_num_quantizers_for_bandwidth(kbps) == expected


def tiny_musicgen(num_codebooks: int) -> MusicgenForCausalLM:
    torch.manual_seed(0)
    config = MusicgenDecoderConfig(vocab_size=10, num_codebooks=num_codebooks, hidden_size=8, ffn_dim=16,
                                   num_hidden_layers=1, num_attention_heads=2, max_position_embeddings=64,
                                   pad_token_id=10, bos_token_id=10)
    return MusicgenForCausalLM(config).eval()


@pytest.mark.parametrize(("batch", "K", "T"), [(1, 1, 5), (2, 4, 6), (3, 2, 1), (1, 8, 7)])
def test_delay_pattern_equals_musicgen(batch, K, T):
    model = tiny_musicgen(K)
    codes = torch.randint(0, 10, (batch, K, T), generator=torch.Generator().manual_seed(K * 10 + T))
    start = torch.full((batch * K, 1), 10)
    _, pattern = model.build_delay_pattern_mask(torch.cat([start, codes.reshape(batch * K, T)], dim=1),
                                                pad_token_id=10, max_length=1 + T + K - 1)
    delayed = build_delay_pattern(codes, pad_id=10)
    assert delayed.shape == (batch, K, T + K - 1)
    assert torch.equal(pattern.reshape(batch, K, -1)[:, :, 1:], delayed)
    assert torch.all(pattern.reshape(batch, K, -1)[:, :, 0] == 10)  # the start column
    assert torch.equal(undo_delay_pattern(delayed), codes)
    assert torch.equal(pattern[pattern != 10].reshape(batch, K, -1), undo_delay_pattern(delayed))
    # step s holds codebook k of frame s - k
    for s in range(T + K - 1):
        for k in range(K):
            frame = s - k
            assert delayed[0, k, s].item() == (codes[0, k, frame].item() if 0 <= frame < T else 10)


def test_musicgen_skips_the_delay_for_short_sequences():
    # transformers only builds the pattern when max_length >= 2K - 1 (here T >= K - 1); ours always does
    model = tiny_musicgen(8)
    codes = torch.randint(0, 10, (1, 8, 3), generator=torch.Generator().manual_seed(0))
    start = torch.full((8, 1), 10)
    _, pattern = model.build_delay_pattern_mask(torch.cat([start, codes[0]], dim=1), pad_token_id=10, max_length=11)
    assert torch.all(pattern == -1)
    assert torch.equal(undo_delay_pattern(build_delay_pattern(codes, pad_id=10)), codes)


def test_receptive_field_matches_a_conv_stack():
    torch.manual_seed(0)
    for kernel, dilations in [(2, [1, 2, 4, 8]), (3, [1, 3, 9]), (2, [1, 1, 1]), (4, [2])]:
        layers = []
        for d in dilations:
            conv = torch.nn.Conv1d(1, 1, kernel, dilation=d).double()
            layers += [torch.nn.ConstantPad1d(((kernel - 1) * d, 0), 0.0), conv]
        stack = torch.nn.Sequential(*layers)
        x = torch.randn(1, 1, 80, dtype=torch.float64, requires_grad=True)
        stack(x)[0, 0, 70].backward()
        seen = (x.grad[0, 0] != 0).nonzero().flatten()
        assert seen.max().item() == 70  # causal: nothing after t
        assert 70 - seen.min().item() + 1 == receptive_field(kernel, dilations)  # the span of inputs it reads
        if dilations[0] == 1:  # a first layer of dilation 1 leaves no hole inside the span
            assert len(seen) == receptive_field(kernel, dilations)
    assert receptive_field(2, [2**i for i in range(10)]) == 1024
    assert receptive_field(5, []) == 1


@pytest.mark.parametrize(("T", "P"), [(1, 5), (4, 6), (3, 1), (5, 3)])
@pytest.mark.parametrize("kind", ["space", "time"])
def test_factorized_attention_equals_masked_sdpa(T, P, kind):
    g = torch.Generator().manual_seed(T * 7 + P)
    q, k = torch.randn(2, 2, 3, T * P, 8, generator=g, dtype=torch.float64).unbind(0)
    v = torch.randn(2, 3, T * P, 5, generator=g, dtype=torch.float64)
    mask = spacetime_mask(T, P, kind)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert torch.allclose(factorized_attention(q, k, v, T, kind), ref, rtol=0, atol=1e-12)
    # the masks: each token sees its frame (P tokens) or its position across frames (T tokens)
    assert mask.dtype == torch.bool and torch.equal(mask, mask.T)
    assert torch.all(mask.sum(1) == (P if kind == "space" else T))


def test_spacetime_masks_cover_the_full_pattern():
    space, time = spacetime_mask(3, 4, "space"), spacetime_mask(3, 4, "time")
    assert torch.equal(space & time, torch.eye(12, dtype=torch.bool))  # only the token itself is in both
    assert int((space | time).sum()) == 12 * (4 + 3 - 1)


def test_poisson_field_laws():
    g = torch.Generator().manual_seed(0)
    data = torch.randn(20, 3, generator=g, dtype=torch.float64)
    x = torch.tensor([[0.1, 0.2, -0.3, 0.7]], dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(lambda p: poisson_field(p, data)[0], x)[:, 0, :]
    assert abs(jac.trace().item()) < 1e-9  # divergence-free off the charges
    # one charge at the origin: E = x / (S_N(1) |x|^(N+1))
    one = torch.zeros(1, 3, dtype=torch.float64)
    area = 2 * math.pi**2  # S_3(1), the unit sphere in R^4
    expected = x / (area * x.norm() ** 4)
    assert torch.allclose(poisson_field(x, one), expected, rtol=1e-12, atol=0)
    # far away: unit flux through a sphere of radius r
    far = torch.tensor([[0.0, 0.0, 0.0, 1e4]], dtype=torch.float64)
    assert abs((1e4**3 * area * poisson_field(far, data).norm()).item() - 1) < 1e-6
    # the z component points away from the data plane above it
    assert poisson_field(x, data)[0, -1] > 0


def test_bad_input():
    books = torch.randn(2, 4, 3)
    with pytest.raises(TypeError, match="x"):
        residual_vector_quantize(torch.ones(2, 3, dtype=torch.long), books)
    with pytest.raises(ValueError, match="x"):
        residual_vector_quantize(torch.randn(2, 5), books)
    with pytest.raises(ValueError, match="codebooks"):
        residual_vector_quantize(torch.randn(2, 3), torch.randn(4, 3))
    with pytest.raises(TypeError, match="codes"):
        residual_vector_dequantize(torch.randn(2, 5), books)
    with pytest.raises(ValueError, match="codes"):
        residual_vector_dequantize(torch.zeros(3, 5, dtype=torch.long), books)
    with pytest.raises(ValueError, match="codes"):
        residual_vector_dequantize(torch.full((1, 5), 4), books)
    with pytest.raises(ValueError, match="bandwidth_kbps"):
        num_codebooks_for_bandwidth(0.0, 75, 1024)
    with pytest.raises(TypeError, match="bandwidth_kbps"):
        num_codebooks_for_bandwidth("6", 75, 1024)
    with pytest.raises(ValueError, match="codebook_size"):
        num_codebooks_for_bandwidth(6.0, 75, 1000)
    with pytest.raises(ValueError, match="frame_rate"):
        num_codebooks_for_bandwidth(6.0, 0, 1024)
    with pytest.raises(TypeError, match="codes"):
        build_delay_pattern(torch.randn(1, 2, 3), pad_id=5)
    with pytest.raises(ValueError, match="codes"):
        build_delay_pattern(torch.zeros(2, 3, dtype=torch.long), pad_id=5)
    with pytest.raises(ValueError, match="pad_id"):
        build_delay_pattern(torch.zeros(1, 2, 3, dtype=torch.long), pad_id=-1)
    with pytest.raises(ValueError, match="delayed"):
        undo_delay_pattern(torch.zeros(1, 4, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="kernel_size"):
        receptive_field(0, [1])
    with pytest.raises(ValueError, match="dilations"):
        receptive_field(2, [1, 0])
    with pytest.raises(TypeError, match="dilations"):
        receptive_field(2, 4)
    with pytest.raises(ValueError, match="kind"):
        spacetime_mask(2, 3, "depth")
    with pytest.raises(ValueError, match="num_frames"):
        spacetime_mask(0, 3, "space")
    q = torch.randn(1, 1, 6, 4)
    with pytest.raises(ValueError, match="num_frames"):
        factorized_attention(q, q, q, 4, "space")
    with pytest.raises(ValueError, match="q, k"):
        factorized_attention(q, q[..., :3], q, 2, "time")
    with pytest.raises(TypeError, match="v"):
        factorized_attention(q, q, torch.ones(1, 1, 6, 4, dtype=torch.long), 2, "time")
    with pytest.raises(ValueError, match="x"):
        poisson_field(torch.randn(2, 3), torch.randn(5, 3))
    with pytest.raises(ValueError, match="data"):
        poisson_field(torch.randn(2, 3), torch.randn(0, 2))
