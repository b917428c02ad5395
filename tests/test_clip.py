"""genai_guide.clip against transformers' CLIPModel and LlavaForConditionalGeneration, on seeded random inputs.

Loss: `clip_loss` equals `CLIPModel(..., return_loss=True).loss` (float64, 1e-10) for several batch sizes
and learned scales, and its gradient with respect to the scale flows. Logits: `clip_logits` equals
`logits_per_image`. Zero-shot: `zero_shot_classify` equals the argmax of `logits_per_image` with class
prompts as texts. Splice: `splice_image_features` followed by the language model equals
`LlavaForConditionalGeneration(input_ids, pixel_values)`, with one and two images. Bad input fails with
an error naming the argument.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from transformers import (
    CLIPConfig,
    CLIPModel,
    CLIPTextConfig,
    CLIPVisionConfig,
    LlamaConfig,
    LlavaConfig,
    LlavaForConditionalGeneration,
)

from genai_guide.clip import (
    clip_logits,
    clip_loss,
    ensemble_prompts,
    num_image_tokens,
    splice_image_features,
    zero_shot_classify,
)


def tiny_clip(seed: int, logit_scale: float | None = None) -> CLIPModel:
    torch.manual_seed(seed)
    config = CLIPConfig(
        text_config=CLIPTextConfig(vocab_size=20, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                   num_attention_heads=2, max_position_embeddings=8,
                                   bos_token_id=0, eos_token_id=1, pad_token_id=2),
        vision_config=CLIPVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                       num_attention_heads=2, image_size=8, patch_size=4, num_channels=1),
        projection_dim=12,
    )
    model = CLIPModel(config).to(torch.float64).eval()
    if logit_scale is not None:
        with torch.no_grad():
            model.logit_scale.fill_(logit_scale)
    return model


def clip_inputs(seed: int, n_images: int, n_texts: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    pixel_values = torch.randn(n_images, 1, 8, 8, generator=g, dtype=torch.float64)
    input_ids = torch.randint(3, 20, (n_texts, 6), generator=g)
    input_ids[:, -1] = 1  # end-of-text: where CLIP reads the text embedding
    return pixel_values, input_ids


@pytest.mark.parametrize("n", [1, 2, 5, 16])
@pytest.mark.parametrize("logit_scale", [None, 0.0, math.log(100.0), -1.5])
def test_clip_loss_equals_clipmodel(n, logit_scale):
    model = tiny_clip(n, logit_scale)
    pixel_values, input_ids = clip_inputs(10 + n, n, n)
    with torch.no_grad():
        out = model(input_ids=input_ids, pixel_values=pixel_values, return_loss=True)
        image = model.get_image_features(pixel_values=pixel_values).pooler_output
        text = model.get_text_features(input_ids=input_ids).pooler_output
    scale = model.logit_scale.exp()
    assert abs(clip_loss(image, text, scale).item() - out.loss.item()) < 1e-10
    assert abs(clip_loss(image, text, scale.item()).item() - out.loss.item()) < 1e-10
    assert torch.allclose(clip_logits(image, text, scale), out.logits_per_image, rtol=0, atol=1e-10)
    assert torch.allclose(clip_logits(image, text, scale).T, out.logits_per_text, rtol=0, atol=1e-10)


def test_clip_loss_is_symmetric_infonce_and_learns_the_scale():
    g = torch.Generator().manual_seed(0)
    image, text = torch.randn(7, 5, generator=g, dtype=torch.float64), torch.randn(7, 5, generator=g, dtype=torch.float64)
    t = torch.tensor(math.log(1 / 0.07), dtype=torch.float64, requires_grad=True)
    loss = clip_loss(image, text, t.exp())
    logits = t.exp() * F.normalize(image, dim=1) @ F.normalize(text, dim=1).T
    labels = torch.arange(7)
    expected = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
    assert torch.allclose(loss, expected, rtol=0, atol=1e-12)
    loss.backward()
    assert t.grad is not None and t.grad.abs() > 0
    # swapping the roles of images and texts leaves the loss unchanged
    assert torch.allclose(clip_loss(text, image, 3.0), clip_loss(image, text, 3.0), rtol=0, atol=1e-12)
    # perfectly matched pairs at a large scale: the loss goes to zero
    eye = torch.eye(4, dtype=torch.float64)
    assert clip_loss(eye, eye, 100.0).item() < 1e-10


@pytest.mark.parametrize("seed", range(4))
def test_zero_shot_equals_clipmodel_argmax(seed):
    model = tiny_clip(seed)
    pixel_values, input_ids = clip_inputs(100 + seed, 30, 7)  # 30 images, 7 class prompts
    with torch.no_grad():
        out = model(input_ids=input_ids, pixel_values=pixel_values)
        image = model.get_image_features(pixel_values=pixel_values).pooler_output
        text = model.get_text_features(input_ids=input_ids).pooler_output
    assert torch.equal(zero_shot_classify(image, text), out.logits_per_image.argmax(dim=1))
    assert torch.equal(zero_shot_classify(image, text), zero_shot_classify(3.0 * image, 0.5 * text))


def test_ensemble_prompts():
    g = torch.Generator().manual_seed(1)
    embeds = torch.randn(5, 3, 8, generator=g, dtype=torch.float64)
    out = ensemble_prompts(embeds)
    assert out.shape == (5, 8)
    assert torch.allclose(out.norm(dim=1), torch.ones(5, dtype=torch.float64))
    expected = F.normalize(sum(F.normalize(embeds[:, k], dim=1) for k in range(3)), dim=1)
    assert torch.allclose(out, expected, rtol=0, atol=1e-12)
    assert torch.allclose(ensemble_prompts(embeds[:, :1]), F.normalize(embeds[:, 0], dim=1))


def test_num_image_tokens():
    assert num_image_tokens(336, 14) == 576  # LLaVA-1.5
    assert num_image_tokens(224, 14) == 256  # LLaVA
    assert num_image_tokens(224, 32, cls_token=True) == 50  # CLIP ViT-B/32's sequence
    with pytest.raises(ValueError, match="patch_size"):
        num_image_tokens(336, 32)
    with pytest.raises(ValueError, match="image_size"):
        num_image_tokens(0, 14)
    with pytest.raises(TypeError, match="patch_size"):
        num_image_tokens(336, 14.0)


def tiny_llava(seed: int) -> LlavaForConditionalGeneration:
    torch.manual_seed(seed)
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                                       num_attention_heads=2, image_size=8, patch_size=4, num_channels=3),
        text_config=LlamaConfig(vocab_size=12, hidden_size=24, intermediate_size=48, num_hidden_layers=1,
                                num_attention_heads=2, num_key_value_heads=2, bos_token_id=0, eos_token_id=1,
                                pad_token_id=2),
        image_token_id=3, image_seq_length=4,
    )
    return LlavaForConditionalGeneration(config).to(torch.float64).eval()


@pytest.mark.parametrize("n_images", [1, 2])
def test_splice_equals_llava(n_images):
    model = tiny_llava(n_images)
    g = torch.Generator().manual_seed(7)
    pixel_values = torch.randn(n_images, 3, 8, 8, generator=g, dtype=torch.float64)
    rows = []
    for i in range(n_images):  # text before and after the 4 placeholders, at different places per row
        before = torch.randint(4, 12, (1 + 2 * i,), generator=g).tolist()
        after = torch.randint(4, 12, (5 - 2 * i,), generator=g).tolist()
        rows.append([0, *before, *[3] * 4, *after])
    input_ids = torch.tensor(rows)
    with torch.no_grad():
        theirs = model(input_ids=input_ids, pixel_values=pixel_values).logits
        hidden = model.model.vision_tower(pixel_values, output_hidden_states=True).hidden_states[-2][:, 1:]
        features = model.model.multi_modal_projector(hidden)  # (n_images, 4, 24)
        spliced = splice_image_features(model.get_input_embeddings()(input_ids), input_ids, features, 3)
        ours = model(inputs_embeds=spliced).logits
    assert torch.allclose(ours, theirs, rtol=0, atol=1e-10)


def test_splice_keeps_text_rows_and_input():
    embeds = torch.zeros(2, 5, 3, dtype=torch.float64)
    ids = torch.tensor([[1, 9, 9, 2, 2], [9, 2, 2, 2, 9]])
    feats = torch.arange(1, 13, dtype=torch.float64).reshape(2, 2, 3)
    out = splice_image_features(embeds, ids, feats, 9)
    assert torch.equal(out[ids == 9], feats.reshape(4, 3))
    assert torch.equal(out[ids != 9], torch.zeros(6, 3, dtype=torch.float64))
    assert torch.equal(embeds, torch.zeros(2, 5, 3, dtype=torch.float64))  # the input is not changed


def test_bad_input():
    a, b = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="scale"):
        clip_loss(a, b, 0.0)
    with pytest.raises(ValueError, match="scale"):
        clip_loss(a, b, -1.0)
    with pytest.raises(ValueError, match="scale"):
        clip_loss(a, b, torch.tensor(-2.0))
    with pytest.raises(ValueError, match="batch size"):
        clip_loss(a, b[:3], 1.0)
    with pytest.raises(ValueError, match="embedding size"):
        clip_loss(a, torch.randn(4, 5, dtype=torch.float64), 1.0)
    with pytest.raises(ValueError, match="image_embeds"):
        clip_loss(a[0], b, 1.0)
    with pytest.raises(TypeError, match="text_embeds"):
        clip_loss(a, torch.ones(4, 3, dtype=torch.long), 1.0)
    with pytest.raises(ValueError, match="class_embeds"):
        zero_shot_classify(a, torch.randn(2, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match="text_embeds"):
        ensemble_prompts(a)
    embeds, ids = torch.zeros(1, 4, 3, dtype=torch.float64), torch.tensor([[1, 9, 9, 2]])
    with pytest.raises(ValueError, match="image_features"):
        splice_image_features(embeds, ids, torch.zeros(1, 3, 3, dtype=torch.float64), 9)  # 2 slots, 3 features
    with pytest.raises(ValueError, match="image_features"):
        splice_image_features(embeds, ids, torch.zeros(1, 2, 4, dtype=torch.float64), 9)  # wrong width
    with pytest.raises(ValueError, match="input_ids"):
        splice_image_features(embeds, ids[:, :3], torch.zeros(1, 2, 3, dtype=torch.float64), 9)
    with pytest.raises(TypeError, match="input_ids"):
        splice_image_features(embeds, ids.double(), torch.zeros(1, 2, 3, dtype=torch.float64), 9)
