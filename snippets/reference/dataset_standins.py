"""The offline stand-ins: same splits, columns and labels as the Hub datasets, a few rows each."""

from datasets import ClassLabel

from genai_guide.standins import HUB_IDS, standin


def describe(feature) -> str:
    return f"ClassLabel({feature.num_classes})" if isinstance(feature, ClassLabel) else feature.dtype


for name, (hub_id, config) in HUB_IDS.items():
    data = standin(name)  # offline; on the Hub: datasets.load_dataset(hub_id, config)
    columns = ", ".join(f"{col}: {describe(feat)}" for col, feat in data["train"].features.items())
    print(f"{name:16s} splits {'/'.join(data):26s} {columns}")

imdb = standin("imdb")["train"]
label = imdb.features["label"]
print(repr(imdb[1]["text"]), "->", label.int2str(imdb[1]["label"]))
assert label.names == ["neg", "pos"] and imdb.num_rows == 4
