"""The reference shelf's code: parameter counts against published figures, stand-ins against the
recorded Hub schemas."""

from __future__ import annotations

import re

import pytest
import torch
import transformers
from datasets import ClassLabel, Value

from bookkit.data import load_datasets, load_models
from genai_guide.standins import FEATURES, HUB_IDS, standin

MODELS = {m["key"]: m for m in load_models().values() if m.get("hf_config")}
MODEL_CLASSES = {"GPT2Config": "GPT2LMHeadModel", "BertConfig": "BertModel", "T5Config": "T5ForConditionalGeneration"}


def test_three_reference_architectures_are_recorded():
    assert {m["hf_config"]["class"] for m in MODELS.values()} == set(MODEL_CLASSES)


@pytest.mark.parametrize("key", sorted(MODELS))
def test_parameter_count_matches_the_published_figure(key):
    model = MODELS[key]
    settings = dict(model["hf_config"])
    config = getattr(transformers, settings.pop("class"))(**settings)
    with torch.device("meta"):
        network = getattr(transformers, MODEL_CLASSES[type(config).__name__])(config)
    count = sum(p.numel() for p in network.parameters())
    published = int(model["published_parameters"])
    assert abs(count - published) / published < 0.005, f"{model['name']}: config gives {count:,}, published {published:,}"


def _parse(spec: str, classes):
    """'string' / 'int32' / 'ClassLabel(a, b, ...)' / 'ClassLabel(N names)' (= the record's classes)."""
    m = re.fullmatch(r"ClassLabel\((.*)\)", spec.strip())
    if m and (n := re.fullmatch(r"(\d+) names", m[1])):
        lists = [classes] if isinstance(classes, list) else list((classes or {}).values())
        matching = [names for names in lists if len(names) == int(n[1])]
        assert len(matching) == 1, f"{spec}: no single list of {n[1]} classes in {classes}"
        return ClassLabel(names=list(matching[0]))
    if m:
        return ClassLabel(names=[name.strip() for name in m[1].split(",")])
    return Value(spec.strip())


@pytest.mark.parametrize("name", sorted(FEATURES))
def test_standin_schema_matches_the_recorded_hub_schema(name):
    records = {d["hub_id"]: d for d in load_datasets().values()}
    hub_id, config = HUB_IDS[name]
    record = records[hub_id]
    if record.get("tasks"):  # GLUE: one schema per task (configuration)
        record = next(t for t in record["tasks"] if t["key"] == config)
    recorded = {col: _parse(spec, record.get("classes")) for col, spec in record["schema"].items()}
    ours = dict(standin(name)["train"].features)
    assert list(ours) == list(recorded), f"{name}: columns {list(ours)} vs recorded {list(recorded)}"
    for col, feature in recorded.items():
        if isinstance(feature, ClassLabel):
            assert ours[col].names == feature.names, f"{name}.{col}: label names differ"
        else:
            assert ours[col] == feature, f"{name}.{col}: {ours[col]} vs {feature}"


def test_standin_rejects_unknown_names():
    with pytest.raises(ValueError, match="name must be one of"):
        standin("mnist")


def test_glue_size_range_in_the_notes_matches_the_recorded_splits():
    """The note on GLUE quotes the smallest and largest training sets and their ratio; all three must
    follow from the split sizes recorded for the tasks."""
    glue = load_datasets()["glue"]
    train = {t["key"]: int(t["splits"]["train"]) for t in glue["tasks"]}
    smallest, largest = min(train, key=train.get), max(train, key=train.get)
    assert (smallest, largest) == ("wnli", "mnli")
    note = " ".join(glue["watch_for"].split())
    assert f"{train[smallest]:,} pairs (WNLI) to {train[largest]:,} (MNLI)" in note
    factor = int(re.search(r"a factor of about ([\d,]+)", note)[1].replace(",", ""))
    assert abs(train[largest] / train[smallest] - factor) / factor < 0.05  # 392,702 / 635 = 618
