"""CLIP and multimodal models: the symmetric contrastive loss, zero-shot classification, image tokens.

CLIP (Radford et al. 2021) trains an image encoder and a text encoder together so that an image and
its caption land close in one shared embedding space. This module holds the pieces the chapter
"CLIP and multimodal models" explains:

- `clip_logits`: every image against every text, cosine similarity times a learned scale;
- `clip_loss`: the symmetric cross-entropy of the paper's pseudocode (equal to
  `transformers.CLIPModel(..., return_loss=True)`);
- `ensemble_prompts` and `zero_shot_classify`: a classifier made of text prompts, no training;
- `num_image_tokens` and `splice_image_features`: how LLaVA (Liu et al. 2023) puts projected image
  patches into a language model's input sequence (equal to `LlavaModel`'s merge).

The cosine scores are `genai_guide.similarity.cosine_scores`; the loss is InfoNCE
(`genai_guide.similarity.info_nce_loss`) taken in both directions.

Example:
    >>> import torch
    >>> images = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    >>> texts = torch.tensor([[0.9, 0.1], [0.2, 0.8]])
    >>> zero_shot_classify(images, texts).tolist()
    [0, 1]
    >>> num_image_tokens(336, 14)
    576
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from genai_guide._checks import check_float_tensor, check_int
from genai_guide.similarity import cosine_scores

__all__ = [
    "clip_logits",
    "clip_loss",
    "ensemble_prompts",
    "num_image_tokens",
    "splice_image_features",
    "zero_shot_classify",
]


def _check_matrix(name: str, x: object) -> Tensor:
    x = check_float_tensor(name, x)
    if x.dim() != 2:
        raise ValueError(f"{name} must be a 2-D tensor (rows, dim), got shape {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} must not be empty: it has 0 rows")
    return x


def _check_scale(scale: object) -> float | Tensor:
    if isinstance(scale, Tensor):
        if scale.dim() != 0 or not scale.is_floating_point():
            raise ValueError(f"scale must be a number or a 0-D floating tensor, got shape {tuple(scale.shape)}, "
                             f"dtype {scale.dtype}")
        if not bool(scale > 0):
            raise ValueError(f"scale must be > 0, got {scale.item()!r}")
        return scale
    if not isinstance(scale, (int, float)) or isinstance(scale, bool) or not scale > 0:
        raise ValueError(f"scale must be a number > 0, got {scale!r}")
    return float(scale)


def clip_logits(image_embeds: Tensor, text_embeds: Tensor, scale: float | Tensor = 1.0) -> Tensor:
    """Scaled cosine similarities $\\ell_{ij} = s \\cos(I_i, T_j)$ of every image with every text.

    Args:
        image_embeds: `(n_images, d)` image embeddings (normalised here, any length accepted).
        text_embeds: `(n_texts, d)` text embeddings.
        scale: $s = e^{t} > 0$, the exponential of CLIP's learned log-scale $t$ (`CLIPModel.logit_scale`
            holds $t$; transformers initialises it to $2.6592 = \\log(1/0.07)$). A float or a 0-D
            tensor, which keeps its gradient.

    Returns:
        `(n_images, n_texts)` logits, `CLIPModel`'s `logits_per_image`; its transpose is
        `logits_per_text`.

    Raises:
        TypeError: if an embedding is not a floating-point tensor.
        ValueError: if an embedding is not 2-D or is empty, the embedding sizes differ, or `scale <= 0`.
    """
    image_embeds = _check_matrix("image_embeds", image_embeds)
    text_embeds = _check_matrix("text_embeds", text_embeds)
    if image_embeds.shape[1] != text_embeds.shape[1]:
        raise ValueError(f"image_embeds and text_embeds must have the same embedding size, got "
                         f"{image_embeds.shape[1]} and {text_embeds.shape[1]}")
    scale = _check_scale(scale)
    return scale * cosine_scores(image_embeds, text_embeds)  # (n_images, n_texts)


def clip_loss(image_embeds: Tensor, text_embeds: Tensor, scale: float | Tensor) -> Tensor:
    """CLIP's symmetric contrastive loss over a batch of matching (image, text) pairs.

    Image $i$ belongs with text $i$; the other $n - 1$ texts of the batch are its negatives, and the
    same for each text. With $\\ell = s\\,\\hat I \\hat T^{\\top}$ (`clip_logits`),

    $$\\mathcal{L} = \\tfrac{1}{2}\\big(\\mathrm{CE}(\\ell, y) + \\mathrm{CE}(\\ell^{\\top}, y)\\big),
    \\qquad y = (0, 1, \\dots, n - 1),$$

    the mean of the image-to-text and text-to-image cross-entropies: the numpy-like pseudocode of
    Radford et al. (2021, Figure 3), which is InfoNCE (van den Oord et al. 2018) in both directions.

    Args:
        image_embeds: `(n, d)` image embeddings, row `i` paired with row `i` of `text_embeds`.
        text_embeds: `(n, d)` text embeddings.
        scale: $s = e^{t} > 0$ (a float, or a 0-D tensor so that $t$ is learned).

    Returns:
        The loss, a 0-D tensor with gradients; equal to `CLIPModel(..., return_loss=True).loss`.

    Raises:
        TypeError: if an embedding is not a floating-point tensor.
        ValueError: if an embedding is not 2-D or is empty, the batch sizes or embedding sizes differ,
            or `scale <= 0`.
    """
    image_embeds = _check_matrix("image_embeds", image_embeds)
    text_embeds = _check_matrix("text_embeds", text_embeds)
    if image_embeds.shape[0] != text_embeds.shape[0]:
        raise ValueError(f"image_embeds and text_embeds must have the same batch size (pairs), got "
                         f"{image_embeds.shape[0]} and {text_embeds.shape[0]}")
    logits = clip_logits(image_embeds, text_embeds, scale)  # (n, n)
    labels = torch.arange(logits.shape[0], device=logits.device)  # the pairs sit on the diagonal
    loss_i = F.cross_entropy(logits, labels)  # each image picks its text
    loss_t = F.cross_entropy(logits.T, labels)  # each text picks its image
    return (loss_i + loss_t) / 2


def ensemble_prompts(text_embeds: Tensor) -> Tensor:
    """One embedding per class from several prompts: the mean of the normalised prompt embeddings.

    Radford et al. (2021) ensemble several prompt templates per class by averaging their
    embeddings; the mean is normalised again.

    Args:
        text_embeds: `(n_classes, n_prompts, d)` the embeddings of each class's prompts.

    Returns:
        `(n_classes, d)` class embeddings of length 1.

    Raises:
        TypeError: if `text_embeds` is not a floating-point tensor.
        ValueError: if `text_embeds` is not 3-D or has no class or no prompt.
    """
    text_embeds = check_float_tensor("text_embeds", text_embeds)
    if text_embeds.dim() != 3 or text_embeds.shape[0] == 0 or text_embeds.shape[1] == 0:
        raise ValueError(f"text_embeds must be a non-empty 3-D tensor (n_classes, n_prompts, d), got shape "
                         f"{tuple(text_embeds.shape)}")
    return F.normalize(F.normalize(text_embeds, dim=-1).mean(dim=1), dim=-1)


def zero_shot_classify(image_embeds: Tensor, class_embeds: Tensor) -> Tensor:
    """Zero-shot labels: for each image, the class whose text embedding is the most similar.

    $\\hat y_i = \\arg\\max_c \\cos(I_i, T_c)$ where $T_c$ embeds a prompt such as "a photo of a {c}".
    The scale and the softmax are monotone, so they do not change the argmax: this is the argmax of
    `CLIPModel`'s `logits_per_image` with the class prompts as texts. Ties go to the lower class index.

    Args:
        image_embeds: `(n_images, d)` image embeddings.
        class_embeds: `(n_classes, d)` one text embedding per class (see `ensemble_prompts`).

    Returns:
        `(n_images,)` class indices (int64).

    Raises:
        TypeError: if an embedding is not a floating-point tensor.
        ValueError: if an embedding is not 2-D or is empty, or the embedding sizes differ.
    """
    image_embeds = _check_matrix("image_embeds", image_embeds)
    class_embeds = _check_matrix("class_embeds", class_embeds)
    if image_embeds.shape[1] != class_embeds.shape[1]:
        raise ValueError(f"image_embeds and class_embeds must have the same embedding size, got "
                         f"{image_embeds.shape[1]} and {class_embeds.shape[1]}")
    return cosine_scores(image_embeds, class_embeds).argmax(dim=1)


def num_image_tokens(image_size: int, patch_size: int, cls_token: bool = False) -> int:
    """How many tokens a vision transformer makes of a square image: $(H / P)^2$ patches.

    LLaVA-1.5's CLIP ViT-L/14 at 336 px gives $(336 / 14)^2 = 24^2 = 576$ patch features; LLaVA drops
    the class token (`vision_feature_select_strategy="default"`), so 576 image tokens enter the LLM.

    Args:
        image_size: the side of the square image in pixels, >= 1.
        patch_size: the side of a square patch, >= 1, dividing `image_size`.
        cls_token: add the vision transformer's class token (the encoder's sequence length).

    Returns:
        The number of tokens.

    Raises:
        TypeError: if a size is not an int.
        ValueError: if a size is < 1 or `patch_size` does not divide `image_size`.
    """
    check_int("image_size", image_size, 1)
    check_int("patch_size", patch_size, 1)
    if image_size % patch_size:
        raise ValueError(f"patch_size must divide image_size, got image_size={image_size}, patch_size={patch_size}")
    return (image_size // patch_size) ** 2 + int(bool(cls_token))


def splice_image_features(inputs_embeds: Tensor, input_ids: Tensor, image_features: Tensor,
                          image_token_id: int) -> Tensor:
    """Put projected image features in place of the image placeholder tokens of a text sequence.

    A LLaVA prompt holds one placeholder token per image feature (`<image>` repeated
    `num_image_tokens` times). Their rows of `inputs_embeds` are replaced, in reading order, by the
    rows of `image_features`; every text row is kept. The language model then reads one sequence
    that mixes image tokens and text tokens. Equal to `LlavaModel`'s `masked_scatter` merge.

    Args:
        inputs_embeds: `(batch, seq, d)` the language model's token embeddings of `input_ids`.
        input_ids: `(batch, seq)` token ids holding `image_token_id` at the image positions.
        image_features: `(n_images, n_tokens, d)` the projected image features, images in the order
            their placeholders appear (row by row of the batch).
        image_token_id: the placeholder's token id.

    Returns:
        `(batch, seq, d)` a new tensor: `inputs_embeds` with the image features spliced in.

    Raises:
        TypeError: if an input has the wrong type.
        ValueError: if the shapes do not match, or the number of placeholders differs from the
            number of image features.
    """
    inputs_embeds = check_float_tensor("inputs_embeds", inputs_embeds)
    image_features = check_float_tensor("image_features", image_features)
    if not isinstance(input_ids, Tensor) or input_ids.is_floating_point():
        raise TypeError(f"input_ids must be an integer torch.Tensor, got {getattr(input_ids, 'dtype', type(input_ids).__name__)}")
    check_int("image_token_id", image_token_id, 0)
    if inputs_embeds.dim() != 3:
        raise ValueError(f"inputs_embeds must be 3-D (batch, seq, d), got shape {tuple(inputs_embeds.shape)}")
    if input_ids.shape != inputs_embeds.shape[:2]:
        raise ValueError(f"input_ids must have shape (batch, seq) = {tuple(inputs_embeds.shape[:2])}, "
                         f"got {tuple(input_ids.shape)}")
    if image_features.dim() != 3 or image_features.shape[-1] != inputs_embeds.shape[-1]:
        raise ValueError(f"image_features must be 3-D (n_images, n_tokens, d) with d = {inputs_embeds.shape[-1]}, "
                         f"got shape {tuple(image_features.shape)}")
    is_image = input_ids == image_token_id  # (batch, seq)
    n_slots, n_features = int(is_image.sum()), image_features.shape[0] * image_features.shape[1]
    if n_slots != n_features:
        raise ValueError(f"input_ids has {n_slots} image tokens (id {image_token_id}) but image_features has "
                         f"{n_features} features")
    out = inputs_embeds.clone()
    out[is_image] = image_features.reshape(-1, image_features.shape[-1]).to(out.dtype)  # row-major order
    return out
