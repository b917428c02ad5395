"""A paraphrase task shaped like GLUE's MRPC, generated offline: the Hub's features, a few rows, and
the baselines that accuracy and F1 must beat (metrics checked against scikit-learn)."""

# --8<-- [start:data]
from genai_guide.finetuning import paraphrase_dataset
from genai_guide.standins import FEATURES

mrpc = paraphrase_dataset(train=500, validation=400, test=400, seed=0)
hub_features = FEATURES["glue/mrpc"]  # the Hub's MRPC columns and labels, recorded offline
assert all(split.features == hub_features for split in mrpc.values())
print({split: rows.num_rows for split, rows in mrpc.items()})

label_names = mrpc["train"].features["label"].names
for row in mrpc["train"].select([0, 30, 13, 5]):
    print(f"{label_names[row['label']]:>14}: {row['sentence1']!r}\n{'':>16}{row['sentence2']!r}")
# --8<-- [end:data]

# --8<-- [start:baselines]
import random

from sklearn.metrics import accuracy_score, f1_score

from genai_guide.finetuning import mrpc_metrics

labels = mrpc["validation"]["label"]
rng = random.Random(0)
baselines = {
    "always equivalent": [1] * len(labels),
    "always not_equivalent": [0] * len(labels),
    "coin flip": [rng.randint(0, 1) for _ in labels],
}
print(f"\nvalidation: {sum(labels)} of {len(labels)} pairs equivalent ({sum(labels) / len(labels):.1%})")
for name, predictions in baselines.items():
    scores = mrpc_metrics(predictions, labels)
    assert scores["accuracy"] == accuracy_score(labels, predictions)
    assert abs(scores["f1"] - f1_score(labels, predictions, zero_division=0.0)) < 1e-12
    print(f"{name:>21}: accuracy {scores['accuracy']:.3f}, F1 {scores['f1']:.3f}")
# --8<-- [end:baselines]
