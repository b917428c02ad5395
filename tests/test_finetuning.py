"""genai_guide.finetuning against the references: the generated paraphrase task has exactly the Hub's
MRPC features (recorded in `genai_guide.standins`, which tests/test_reference.py checks against
data/datasets.yml); `pad_batch` returns the same tensors as transformers' DataCollatorWithPadding (keys, values and dtypes, every padding option); `accuracy`
and `f1_score` equal sklearn.metrics to 1e-12; bad input is rejected with errors naming the argument."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from datasets import ClassLabel, Features, Value
from sklearn.metrics import accuracy_score
from sklearn.metrics import f1_score as sk_f1
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
from transformers import BertTokenizer, DataCollatorWithPadding

from genai_guide.finetuning import (
    LABEL_NAMES,
    OPTIONAL_SLOTS,
    SYNONYMS,
    DynamicPaddingCollator,
    accuracy,
    f1_score,
    mrpc_features,
    mrpc_metrics,
    pad_batch,
    paraphrase_dataset,
    paraphrase_pairs,
)

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
GROUP = {word: (role, g) for role, groups in SYNONYMS.items() for g, pair in enumerate(groups) for word in pair}


# ------------------------------------------------------------------------------------ MRPC schema

HUB_MRPC = Features({  # the Hub's GLUE/MRPC features, written out here independently of the module
    "sentence1": Value("string"),
    "sentence2": Value("string"),
    "label": ClassLabel(names=["not_equivalent", "equivalent"]),
    "idx": Value("int32"),
})


def test_features_equal_the_hub_mrpc_features():
    dataset = paraphrase_dataset(train=3, validation=2, test=2)
    assert list(dataset) == ["train", "validation", "test"]
    assert mrpc_features() == HUB_MRPC
    for split in dataset.values():
        assert split.features == HUB_MRPC
        assert list(split.features) == list(HUB_MRPC)  # the column order too
    assert dataset["train"].features["label"].int2str([0, 1]) == list(LABEL_NAMES)


def test_splits_have_the_requested_sizes_and_their_own_rows():
    dataset = paraphrase_dataset(train=50, validation=20, test=10, seed=3)
    assert dataset.num_rows == {"train": 50, "validation": 20, "test": 10}
    assert dataset["train"]["idx"] == list(range(50)) and dataset["test"]["idx"] == list(range(10))
    assert dataset["train"][:20]["sentence1"] != dataset["validation"]["sentence1"]
    assert set(dataset["test"]["label"]) <= {0, 1}  # MRPC's test labels are public, and kept
    assert paraphrase_dataset(train=0, validation=1, test=0).num_rows == {"train": 0, "validation": 1, "test": 0}


# ------------------------------------------------------------------------------------ the generator

def _slots(sentence: str) -> list[tuple[str, int]]:
    """The (role, synonym group) of every content word of a generated sentence, in order."""
    return [GROUP[w] for w in sentence.split() if w in GROUP]


def test_generator_is_deterministic_and_seeded():
    assert paraphrase_pairs(30, seed=5) == paraphrase_pairs(30, seed=5)
    assert paraphrase_pairs(30, seed=5) != paraphrase_pairs(30, seed=6)
    assert [r["idx"] for r in paraphrase_pairs(4, start_idx=10)] == [10, 11, 12, 13]


@pytest.mark.parametrize("p_synonym", [0.0, 0.5, 1.0])
def test_labels_follow_the_meaning_of_the_slots(p_synonym):
    rows = paraphrase_pairs(600, seed=1, p_synonym=p_synonym)
    for row in rows:
        s1, s2 = _slots(row["sentence1"]), _slots(row["sentence2"])
        assert [role for role, _ in s1] == [role for role, _ in s2]  # the same slots, in the same order
        same_meaning = s1 == s2
        assert same_meaning == (row["label"] == 1), row
        words1, words2 = row["sentence1"].split(), row["sentence2"].split()
        assert len(words1) == len(words2) and len(words1) in (8, 11)  # with the final "."
        if row["label"] == 1 and p_synonym == 0.0:
            assert words1 == words2
        if row["label"] == 1 and p_synonym == 1.0:
            assert all(a != b for a, b in zip(words1, words2) if a in GROUP)
    share = sum(r["label"] for r in rows) / len(rows)
    assert abs(share - 0.68) < 0.05
    with_place = sum("near" in r["sentence1"].split() for r in rows) / len(rows)
    assert OPTIONAL_SLOTS == ("place",) and abs(with_place - 0.5) < 0.07


def test_every_word_is_a_known_word():
    vocabulary = set(GROUP) | {"the", "near", "."}
    for row in paraphrase_pairs(200, seed=2):
        assert set(row["sentence1"].split()) | set(row["sentence2"].split()) <= vocabulary
    assert all(len(pair) == 2 and pair[0] != pair[1] for groups in SYNONYMS.values() for pair in groups)
    assert len(GROUP) == sum(2 * len(groups) for groups in SYNONYMS.values())  # no word in two groups


def test_extreme_equivalence_rates():
    assert {r["label"] for r in paraphrase_pairs(50, p_equivalent=1.0)} == {1}
    assert {r["label"] for r in paraphrase_pairs(50, p_equivalent=0.0)} == {0}


# ------------------------------------------------------------------------------- dynamic padding

def _tokenizer(pad_first: bool = True) -> BertTokenizer:
    """A BERT tokenizer over the generator's words, trained on the fly (WordLevel vocabulary)."""
    trained = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    trained.normalizer = normalizers.BertNormalizer(lowercase=True)
    trained.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = SPECIALS if pad_first else SPECIALS[1:] + SPECIALS[:1]  # [PAD] = 0, or [PAD] = 4
    trainer = trainers.WordLevelTrainer(special_tokens=specials, show_progress=False)
    rows = paraphrase_pairs(200, seed=0)
    trained.train_from_iterator([r[k] for r in rows for k in ("sentence1", "sentence2")], trainer)
    return BertTokenizer(vocab=trained.get_vocab())


def _random_features(rng: random.Random, n: int, keys: tuple[str, ...], label: str | None, float_label: bool):
    feats = []
    for _ in range(n):
        length = rng.randint(1, 17)
        f = {"input_ids": [rng.randint(5, 60) for _ in range(length)]}
        if "token_type_ids" in keys:
            cut = rng.randint(0, length)
            f["token_type_ids"] = [0] * cut + [1] * (length - cut)
        if "attention_mask" in keys:
            f["attention_mask"] = [1] * length
        if "special_tokens_mask" in keys:
            f["special_tokens_mask"] = [rng.randint(0, 1) for _ in range(length)]
        if label:
            f[label] = rng.random() if float_label else rng.randint(0, 1)
        feats.append(f)
    return feats


def _assert_same_batch(ours: dict, theirs) -> None:
    theirs = dict(theirs)
    assert set(ours) == set(theirs)
    for key, value in theirs.items():
        assert ours[key].dtype == value.dtype, key
        assert ours[key].shape == value.shape, key
        assert torch.equal(ours[key], value), key


@pytest.mark.parametrize("seed", range(12))
def test_pad_batch_equals_data_collator_with_padding(seed):
    rng = random.Random(seed)
    tokenizer = _tokenizer(pad_first=seed % 2 == 0)
    side = "left" if seed % 3 == 2 else "right"
    tokenizer.padding_side = side
    multiple = [None, 1, 3, 8][seed % 4]
    keys = ("token_type_ids", "attention_mask", "special_tokens_mask")[: seed % 4]
    label = [None, "label", "label_ids", "labels"][seed % 4]
    features = _random_features(rng, rng.randint(1, 9), keys, label, float_label=seed % 5 == 0)
    reference = DataCollatorWithPadding(tokenizer, pad_to_multiple_of=multiple)
    ours = pad_batch(features, tokenizer.pad_token_id, pad_to_multiple_of=multiple, padding_side=side)
    _assert_same_batch(ours, reference([dict(f) for f in features]))


def test_pad_batch_equals_the_collator_on_tokenized_sentence_pairs():
    tokenizer = _tokenizer()
    rows = paraphrase_pairs(40, seed=9)
    encoded = tokenizer([r["sentence1"] for r in rows], [r["sentence2"] for r in rows])
    features = [{"input_ids": ids, "token_type_ids": tt, "attention_mask": am, "label": r["label"]}
                for ids, tt, am, r in zip(encoded["input_ids"], encoded["token_type_ids"],
                                          encoded["attention_mask"], rows)]
    assert {len(f["input_ids"]) for f in features} == {19, 25}  # the two lengths of a pair
    for multiple in (None, 8):
        collator = DynamicPaddingCollator(tokenizer.pad_token_id, pad_to_multiple_of=multiple)
        reference = DataCollatorWithPadding(tokenizer, pad_to_multiple_of=multiple)
        for start in range(0, 40, 8):
            batch = features[start : start + 8]
            _assert_same_batch(collator(batch), reference(batch))


def test_collator_works_as_a_dataloader_collate_fn():
    tokenizer = _tokenizer()
    rows = paraphrase_pairs(12, seed=4)
    enc = tokenizer([r["sentence1"] for r in rows], [r["sentence2"] for r in rows])
    features = [{"input_ids": ids, "label": r["label"]} for ids, r in zip(enc["input_ids"], rows)]
    loader = torch.utils.data.DataLoader(features, batch_size=5, collate_fn=DynamicPaddingCollator(0))
    batches = list(loader)
    assert [b["input_ids"].shape[0] for b in batches] == [5, 5, 2]
    for b in batches:
        assert b["input_ids"].shape[1] == int(b["attention_mask"].sum(1).max())  # padded to the longest
        assert torch.equal(b["attention_mask"].bool(), b["input_ids"] != 0)


def test_pad_batch_does_not_modify_its_input():
    features = [{"input_ids": [5, 6, 7], "label": 1}, {"input_ids": [8], "label": 0}]
    pad_batch(features, 0)
    assert features == [{"input_ids": [5, 6, 7], "label": 1}, {"input_ids": [8], "label": 0}]


def test_pad_batch_rejects_bad_input():
    good = [{"input_ids": [5, 6]}, {"input_ids": [7]}]
    with pytest.raises(ValueError, match="features"):
        pad_batch([], 0)
    with pytest.raises(ValueError, match="input_ids"):
        pad_batch([{"ids": [1]}], 0)
    with pytest.raises(TypeError, match="features"):
        pad_batch({"input_ids": [1]}, 0)
    with pytest.raises(TypeError, match="features"):
        pad_batch([[1, 2]], 0)
    with pytest.raises(ValueError, match="same keys"):
        pad_batch([{"input_ids": [1], "label": 0}, {"input_ids": [2]}], 0)
    with pytest.raises(ValueError, match="attention_mask"):
        pad_batch([{"input_ids": [1, 2], "attention_mask": [1]}], 0)
    with pytest.raises(ValueError, match="'label'"):
        pad_batch([{"input_ids": [1], "label": [0, 1]}, {"input_ids": [2], "label": [0]}], 0)
    with pytest.raises(TypeError, match="pad_token_id"):
        pad_batch(good, 0.0)
    with pytest.raises(ValueError, match="pad_to_multiple_of"):
        pad_batch(good, 0, pad_to_multiple_of=0)
    with pytest.raises(TypeError, match="pad_to_multiple_of"):
        pad_batch(good, 0, pad_to_multiple_of=8.0)
    with pytest.raises(ValueError, match="padding_side"):
        pad_batch(good, 0, padding_side="middle")


# ------------------------------------------------------------------------------------------ metrics

@pytest.mark.parametrize("seed", range(10))
def test_accuracy_and_f1_equal_sklearn(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    refs = rng.integers(0, 2, n)
    preds = rng.integers(0, 2, n) if seed % 3 else np.where(rng.random(n) < 0.8, refs, 1 - refs)
    for p, r in ((preds, refs), (torch.tensor(preds), torch.tensor(refs)), (preds.tolist(), refs.tolist())):
        assert abs(accuracy(p, r) - accuracy_score(refs, preds)) < 1e-12
        assert abs(f1_score(p, r) - sk_f1(refs, preds, zero_division=0.0)) < 1e-12
        assert abs(f1_score(p, r, positive=0) - sk_f1(refs, preds, pos_label=0, zero_division=0.0)) < 1e-12
    assert mrpc_metrics(preds, refs) == {"accuracy": accuracy(preds, refs), "f1": f1_score(preds, refs)}


def test_f1_edge_cases_equal_sklearn():
    cases = [([0, 0, 0], [0, 0, 0]), ([0, 0, 0], [1, 1, 0]), ([1, 1, 1], [0, 0, 0]), ([1, 1], [1, 1])]
    for preds, refs in cases:
        assert f1_score(preds, refs) == sk_f1(refs, preds, zero_division=0.0)
    # The majority class of MRPC's training set, always predicted: high F1, uninformative.
    refs = [1] * 68 + [0] * 32
    assert abs(f1_score([1] * 100, refs) - 2 * 68 / (2 * 68 + 32)) < 1e-12


def test_metrics_reject_bad_input():
    with pytest.raises(ValueError, match="same length"):
        accuracy([0, 1], [0])
    with pytest.raises(ValueError, match="references"):
        accuracy([], [])
    with pytest.raises(TypeError, match="predictions"):
        accuracy(torch.tensor([0.0, 1.0]), [0, 1])
    with pytest.raises(ValueError, match="predictions"):
        accuracy(torch.zeros(2, 2, dtype=torch.long), [0, 1])
    with pytest.raises(TypeError, match="references"):
        accuracy([0, 1], "01")
    with pytest.raises(TypeError, match="references"):
        accuracy([0, 1], [0.0, 1.0])
    with pytest.raises(ValueError, match="binary"):
        f1_score([0, 2], [0, 1])
    with pytest.raises(ValueError, match="binary"):
        f1_score([0, 1], [0, 1], positive=2)
    with pytest.raises(TypeError, match="positive"):
        f1_score([0, 1], [0, 1], positive=True)


def test_generator_rejects_bad_input():
    with pytest.raises(ValueError, match="n must be"):
        paraphrase_pairs(-1)
    with pytest.raises(TypeError, match="n must be"):
        paraphrase_pairs(2.0)
    with pytest.raises(TypeError, match="seed"):
        paraphrase_pairs(2, seed="0")
    with pytest.raises(ValueError, match="p_equivalent"):
        paraphrase_pairs(2, p_equivalent=1.5)
    with pytest.raises(TypeError, match="p_synonym"):
        paraphrase_pairs(2, p_synonym="half")
    with pytest.raises(ValueError, match="start_idx"):
        paraphrase_pairs(2, start_idx=-3)
    with pytest.raises(ValueError, match="validation"):
        paraphrase_dataset(validation=-1)
