"""Fine-tuning a pre-trained encoder for sentence-pair classification, the pieces written out.

The chapter [Fine-tuning a classifier](../../adapting/fine_tuning.md) uses them:

- `paraphrase_pairs` and `paraphrase_dataset` generate a paraphrase task shaped like GLUE's MRPC
  (Wang et al. 2018): the same columns, label names and dtypes (`mrpc_features`), with sentence pairs
  made from a small grammar, deterministic from a seed, so everything runs offline;
- `pad_batch` and `DynamicPaddingCollator` pad each batch to its own longest sequence (dynamic
  padding), giving the same tensors as Hugging Face's `DataCollatorWithPadding`;
- `accuracy`, `f1_score` and `mrpc_metrics` are the two numbers GLUE reports for MRPC, equal to
  `sklearn.metrics.accuracy_score` and `sklearn.metrics.f1_score`.

Fine-tuning a pre-trained encoder with a small classification head on top is the recipe of ULMFiT
(Howard and Ruder 2018) and BERT (Devlin et al. 2018).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

if TYPE_CHECKING:  # datasets is imported only when a Dataset is built
    from datasets import DatasetDict, Features

__all__ = [
    "LABEL_NAMES",
    "OPTIONAL_SLOTS",
    "SYNONYMS",
    "DynamicPaddingCollator",
    "accuracy",
    "f1_score",
    "mrpc_features",
    "mrpc_metrics",
    "pad_batch",
    "paraphrase_dataset",
    "paraphrase_pairs",
]

#: MRPC's label names: 0 is "not_equivalent", 1 is "equivalent".
LABEL_NAMES: tuple[str, str] = ("not_equivalent", "equivalent")

#: The grammar's words by role; the words of one tuple are synonyms, different tuples differ in meaning.
SYNONYMS: dict[str, tuple[tuple[str, str], ...]] = {
    "adjective": (("big", "large"), ("small", "little"), ("happy", "glad"), ("quiet", "silent"), ("rich", "wealthy")),
    "agent": (("boy", "lad"), ("doctor", "physician"), ("child", "kid"), ("teacher", "tutor"), ("sailor", "seaman")),
    "adverb": (("quickly", "rapidly"), ("often", "frequently"), ("rarely", "seldom"), ("nearly", "almost"),
               ("suddenly", "abruptly")),
    "verb": (("bought", "purchased"), ("fixed", "repaired"), ("found", "discovered"), ("built", "constructed"),
             ("chose", "picked")),
    "object": (("car", "automobile"), ("gift", "present"), ("boat", "ship"), ("photo", "picture"), ("rug", "carpet")),
    "place": (("river", "stream"), ("shop", "store"), ("road", "street"), ("forest", "woods"), ("hill", "slope")),
}

# The keys that DataCollatorWithPadding pads (through tokenizer.pad); any other key is stacked as it is.
_PADDED_KEYS = ("input_ids", "token_type_ids", "attention_mask", "special_tokens_mask")


# ----------------------------------------------------------------------------------- input checks

def _int(name: str, value: object, *, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def _labels(name: str, values: object) -> list[int]:
    """A 1-D sequence of integer class ids (list, tuple, NumPy array or tensor) as a list of ints."""
    if isinstance(values, Tensor):
        if values.dim() != 1:
            raise ValueError(f"{name} must be 1-D, got shape {tuple(values.shape)}")
        if values.is_floating_point() or values.is_complex():
            raise TypeError(f"{name} must hold integer class ids, got {values.dtype}")
        return [int(v) for v in values.tolist()]
    if hasattr(values, "tolist") and hasattr(values, "ndim"):  # a NumPy array
        if values.ndim != 1:
            raise ValueError(f"{name} must be 1-D, got shape {tuple(values.shape)}")
        values = values.tolist()
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise TypeError(f"{name} must be a sequence of ints, got {type(values).__name__}")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"{name} must hold integer class ids, got {type(v).__name__}")
        out.append(v)
    return out


def _pair(predictions: object, references: object) -> tuple[list[int], list[int]]:
    preds, refs = _labels("predictions", predictions), _labels("references", references)
    if len(preds) != len(refs):
        raise ValueError(f"predictions and references must have the same length, got {len(preds)} and {len(refs)}")
    if not refs:
        raise ValueError("references must not be empty")
    return preds, refs


# ----------------------------------------------------------------------------- MRPC-shaped data

def mrpc_features() -> Features:
    """The `datasets.Features` of GLUE's MRPC on the Hugging Face Hub, as `genai_guide.standins` records
    them: ``sentence1`` and ``sentence2`` strings, ``label`` a ``ClassLabel`` with the names
    `LABEL_NAMES`, and ``idx`` an ``int32``. A copy: changing it changes nothing else."""
    from genai_guide.standins import FEATURES

    return FEATURES["glue/mrpc"].copy()


#: Slots that a pair may leave out (both sentences together); the others are always there.
OPTIONAL_SLOTS: tuple[str, ...] = ("place",)


def _sentence(words: Mapping[str, str]) -> str:
    """ "the ADJECTIVE AGENT ADVERB VERB the OBJECT [near the PLACE] ." with absent slots left out."""
    parts = ["the", words.get("adjective"), words["agent"], words.get("adverb"), words["verb"], "the",
             words["object"]]
    if "place" in words:
        parts += ["near", "the", words["place"]]
    return " ".join(p for p in parts if p) + " ."


def paraphrase_pairs(
    n: int, seed: int = 0, *, p_equivalent: float = 0.68, p_synonym: float = 0.5, start_idx: int = 0
) -> list[dict[str, Any]]:
    """Generate ``n`` labelled sentence pairs shaped like MRPC rows, deterministically from ``seed``.

    Every sentence reads "the ADJECTIVE AGENT ADVERB VERB the OBJECT [near the PLACE] ." with each
    slot filled from a synonym group of `SYNONYMS`; the place (`OPTIONAL_SLOTS`) is there with
    probability 1/2, in both sentences of a pair or in neither, so a pair is 19 or 25 tokens long
    with ``[CLS]`` and two ``[SEP]``. ``sentence2`` restates ``sentence1`` slot by slot: each
    word is replaced by its synonym with probability ``p_synonym`` and kept otherwise. An
    ``equivalent`` pair (label 1, probability ``p_equivalent``) stops there. A ``not_equivalent``
    pair (label 0) also changes the meaning of between one and all of its slots (uniformly), drawing
    their words from another group of the same role ("bought" becomes "fixed" or "repaired"), so a
    negative can share most of its words with a true paraphrase, as MRPC's negatives often do. MRPC's
    training set is 67.4% equivalent (2,474 of 3,668 pairs).

    Args:
        n: number of pairs.
        seed: seed of the `random.Random` that draws everything.
        p_equivalent: probability that a pair is equivalent.
        p_synonym: probability that a slot whose meaning is kept is written with the synonym.
        start_idx: the ``idx`` of the first row.

    Returns:
        A list of ``{"sentence1": str, "sentence2": str, "label": int, "idx": int}``.

    Raises:
        TypeError: ``n``, ``seed`` or ``start_idx`` is not an int, or a probability is not a number.
        ValueError: ``n`` or ``start_idx`` is negative, or a probability is outside [0, 1].
    """
    _int("n", n, minimum=0)
    _int("seed", seed)
    _int("start_idx", start_idx, minimum=0)
    for name, p in (("p_equivalent", p_equivalent), ("p_synonym", p_synonym)):
        if isinstance(p, bool) or not isinstance(p, (int, float)):
            raise TypeError(f"{name} must be a float, got {type(p).__name__}")
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{name} must lie in [0, 1], got {p}")
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        roles = [r for r in SYNONYMS if r not in OPTIONAL_SLOTS or rng.random() < 0.5]  # the slots used
        groups = {r: rng.randrange(len(SYNONYMS[r])) for r in roles}  # the meaning of each slot
        members = {r: rng.randrange(2) for r in roles}  # which synonym sentence1 uses
        label = int(rng.random() < p_equivalent)
        changed = set(rng.sample(roles, rng.randint(1, len(roles)))) if label == 0 else set()
        words1, words2 = {}, {}
        for r in roles:
            words1[r] = SYNONYMS[r][groups[r]][members[r]]
            if r in changed:  # another meaning: a word of a different group
                other = rng.choice([g for g in range(len(SYNONYMS[r])) if g != groups[r]])
                words2[r] = SYNONYMS[r][other][rng.randrange(2)]
            else:  # the same meaning: the synonym with probability p_synonym, else the same word
                swap = rng.random() < p_synonym
                words2[r] = SYNONYMS[r][groups[r]][1 - members[r] if swap else members[r]]
        rows.append({"sentence1": _sentence(words1), "sentence2": _sentence(words2), "label": label,
                     "idx": start_idx + i})
    return rows


def paraphrase_dataset(train: int = 500, validation: int = 400, test: int = 400, seed: int = 0) -> DatasetDict:
    """A `datasets.DatasetDict` with MRPC's three splits and `mrpc_features`, made by `paraphrase_pairs`.

    Each split is drawn with its own seed derived from ``seed``, and ``idx`` restarts at 0 in each
    split. All three splits are labelled: MRPC's test labels are public (they come with the
    Microsoft corpus), so, unlike most GLUE tasks, the Hub's MRPC test split has them too.

    Args:
        train: rows in the ``train`` split (MRPC: 3,668).
        validation: rows in the ``validation`` split (MRPC: 408).
        test: rows in the ``test`` split (MRPC: 1,725).
        seed: the seed everything is derived from.

    Raises:
        TypeError: a size or ``seed`` is not an int.
        ValueError: a size is negative.
    """
    from datasets import Dataset, DatasetDict

    sizes = {"train": train, "validation": validation, "test": test}
    for name, size in sizes.items():
        _int(name, size, minimum=0)
    _int("seed", seed)
    features = mrpc_features()
    splits = {}
    for offset, (name, size) in enumerate(sizes.items()):
        rows = paraphrase_pairs(size, seed=3 * seed + offset)
        columns = {column: [row[column] for row in rows] for column in features}  # works for 0 rows too
        splits[name] = Dataset.from_dict(columns, features=features)
    return DatasetDict(splits)


# ------------------------------------------------------------------------------- dynamic padding

def pad_batch(
    features: Sequence[Mapping[str, Any]],
    pad_token_id: int,
    *,
    pad_to_multiple_of: int | None = None,
    padding_side: str = "right",
    pad_token_type_id: int = 0,
) -> dict[str, Tensor]:
    """Collate tokenized examples into one batch, padded to the batch's longest sequence.

    Padding each batch only as far as its own longest example (dynamic padding) instead of to a fixed
    maximum length saves the compute spent on padding. With $L_i$ the length of example $i$ of a
    batch, every sequence is padded to

    $$L = \\left\\lceil \\frac{\\max_i L_i}{m} \\right\\rceil m,$$

    with $m$ = ``pad_to_multiple_of`` (1 when not given). ``input_ids`` are padded with
    ``pad_token_id``, ``token_type_ids`` with ``pad_token_type_id``, ``attention_mask`` with 0 (it is
    created, 1 on every real token, when missing) and ``special_tokens_mask`` with 1. Any other key
    (``label``, ``idx``, ...) becomes a tensor as it is; ``label`` and ``label_ids`` are renamed
    ``labels``, the name `transformers` models take. This is what
    ``transformers.DataCollatorWithPadding(tokenizer, pad_to_multiple_of=m)`` returns.

    Args:
        features: examples, each a mapping with ``input_ids`` (a list of ints) and optionally
            ``token_type_ids``, ``attention_mask``, ``special_tokens_mask`` of the same length, and
            scalar fields such as ``label``.
        pad_token_id: id of the padding token.
        pad_to_multiple_of: round the padded length up to a multiple of this (8 suits tensor cores).
        padding_side: ``"right"`` (encoders) or ``"left"`` (decoders that generate).
        pad_token_type_id: segment id of padding positions.

    Returns:
        A dict of tensors: each padded key of shape (B, L), each scalar key of shape (B,).

    Raises:
        TypeError: an id or ``pad_to_multiple_of`` is not an int, or ``features`` is not a sequence of mappings.
        ValueError: ``features`` is empty, lacks ``input_ids``, has fields of unequal lengths or
            unequal keys, ``pad_to_multiple_of`` is not positive, or ``padding_side`` is unknown.
    """
    _int("pad_token_id", pad_token_id)
    _int("pad_token_type_id", pad_token_type_id)
    if pad_to_multiple_of is not None:
        _int("pad_to_multiple_of", pad_to_multiple_of, minimum=1)
    if padding_side not in ("right", "left"):
        raise ValueError(f"padding_side must be 'right' or 'left', got {padding_side!r}")
    if isinstance(features, (str, bytes, Mapping)) or not isinstance(features, Sequence):
        raise TypeError(f"features must be a sequence of mappings, got {type(features).__name__}")
    if not features:
        raise ValueError("features must not be empty")
    if not all(isinstance(f, Mapping) for f in features):
        raise TypeError("features must be a sequence of mappings (one dict per example)")
    keys = list(features[0])
    if "input_ids" not in keys:
        raise ValueError(f"features must have an 'input_ids' field, got {keys}")
    if any(set(f) != set(keys) for f in features):
        raise ValueError("features must all have the same keys")

    lengths = [len(f["input_ids"]) for f in features]
    for f, n in zip(features, lengths):
        for key in _PADDED_KEYS:
            if key in f and len(f[key]) != n:
                raise ValueError(f"features: {key} has length {len(f[key])}, but input_ids has {n}")
    target = max(lengths)
    if pad_to_multiple_of is not None and target % pad_to_multiple_of:
        target = (target // pad_to_multiple_of + 1) * pad_to_multiple_of

    fill = {"input_ids": pad_token_id, "token_type_ids": pad_token_type_id, "attention_mask": 0,
            "special_tokens_mask": 1}
    if "attention_mask" not in keys:
        keys.append("attention_mask")

    def pad(seq: Sequence[int], value: int) -> list[int]:
        padding = [value] * (target - len(seq))
        return list(seq) + padding if padding_side == "right" else padding + list(seq)

    batch: dict[str, Tensor] = {}
    for key in keys:
        if key in _PADDED_KEYS:
            rows = [f.get(key, [1] * n) for f, n in zip(features, lengths)]  # a missing mask: all ones
            batch[key] = torch.tensor([pad([int(v) for v in row], fill[key]) for row in rows])  # (B, L)
        else:
            values = [f[key] for f in features]
            try:
                batch[key] = torch.tensor(values)  # (B,) for scalar fields
            except (ValueError, TypeError) as err:
                raise ValueError(f"features: field {key!r} cannot be stacked into a tensor ({err})") from None
    for old in ("label", "label_ids"):
        if old in batch:
            batch["labels"] = batch.pop(old)
    return batch


@dataclass
class DynamicPaddingCollator:
    """A ``collate_fn`` for `torch.utils.data.DataLoader` (or a `Trainer`'s ``data_collator``) that pads
    each batch to its longest example with `pad_batch`.

    Attributes:
        pad_token_id: id of the padding token (the tokenizer's ``pad_token_id``).
        pad_to_multiple_of: optional multiple to round the padded length up to.
        padding_side: ``"right"`` or ``"left"``.
        pad_token_type_id: segment id of padding positions.
    """

    pad_token_id: int
    pad_to_multiple_of: int | None = None
    padding_side: str = "right"
    pad_token_type_id: int = 0

    def __call__(self, features: Sequence[Mapping[str, Any]]) -> dict[str, Tensor]:
        return pad_batch(features, self.pad_token_id, pad_to_multiple_of=self.pad_to_multiple_of,
                         padding_side=self.padding_side, pad_token_type_id=self.pad_token_type_id)


# ----------------------------------------------------------------------------------------- metrics

def accuracy(predictions: Sequence[int] | Tensor, references: Sequence[int] | Tensor) -> float:
    """The fraction of predictions equal to the reference labels,
    $\\frac{1}{n}\\sum_i [\\hat y_i = y_i]$ (``sklearn.metrics.accuracy_score``).

    Raises:
        TypeError: an argument does not hold integer class ids.
        ValueError: the lengths differ, or there are no references.
    """
    preds, refs = _pair(predictions, references)
    return sum(p == r for p, r in zip(preds, refs)) / len(refs)


def f1_score(predictions: Sequence[int] | Tensor, references: Sequence[int] | Tensor, positive: int = 1) -> float:
    """Binary F1 of the ``positive`` class, the harmonic mean of precision and recall:

    $$F_1 = \\frac{2PR}{P + R} = \\frac{2\\,TP}{2\\,TP + FP + FN},$$

    0.0 when there is no true or predicted positive (as ``sklearn.metrics.f1_score``, whose
    ``zero_division`` default gives 0.0 with a warning). GLUE reports it for MRPC and QQP, where the
    classes are unbalanced, next to accuracy.

    Raises:
        TypeError: an argument does not hold integer class ids.
        ValueError: the lengths differ, there are no references, or a label is not 0 or 1.
    """
    preds, refs = _pair(predictions, references)
    _int("positive", positive)
    if positive not in (0, 1) or not set(preds) | set(refs) <= {0, 1}:
        raise ValueError("predictions, references and positive must be binary labels 0 or 1")
    tp = sum(p == positive and r == positive for p, r in zip(preds, refs))
    fp = sum(p == positive and r != positive for p, r in zip(preds, refs))
    fn = sum(p != positive and r == positive for p, r in zip(preds, refs))
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0


def mrpc_metrics(predictions: Sequence[int] | Tensor, references: Sequence[int] | Tensor) -> dict[str, float]:
    """GLUE's two numbers for MRPC: ``{"accuracy": ..., "f1": ...}``, F1 of the "equivalent" class."""
    return {"accuracy": accuracy(predictions, references), "f1": f1_score(predictions, references)}
