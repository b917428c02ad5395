"""The GLUE metrics from scratch, equal to scikit-learn and SciPy: accuracy, F1, Matthews correlation
(CoLA), Pearson and Spearman correlation (STS-B), and why CoLA and STS-B need them."""

# --8<-- [start:check]
import random

from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

from genai_guide.metrics import accuracy, f1, mcc, pearson, spearman

rng = random.Random(0)
labels = [int(rng.random() < 0.7) for _ in range(200)]  # a binary task, 70% positive, like an imbalanced CoLA
model = [y if rng.random() < 0.8 else 1 - y for y in labels]  # a classifier that is right 80% of the time
always_1 = [1] * len(labels)  # a "classifier" that ignores its input
print("                 accuracy     F1    MCC")
for name, predictions in (("80% right", model), ("always 1", always_1)):
    scores = accuracy(predictions, labels), f1(predictions, labels), mcc(predictions, labels)
    sklearn = (accuracy_score(labels, predictions), f1_score(labels, predictions),
               matthews_corrcoef(labels, predictions))  # scikit-learn takes (y_true, y_pred)
    assert all(abs(a - b) < 1e-12 for a, b in zip(scores, sklearn))
    print(f"{name:14s} {scores[0]:9.3f}  {scores[1]:5.3f}  {scores[2]:5.3f}")

gold = [rng.uniform(0, 5) for _ in range(100)]  # STS-B: similarity from 0 to 5
predicted = [g**3 / 25 + rng.gauss(0, 0.1) for g in gold]  # right order, wrong scale
r, rho = pearson(predicted, gold), spearman(predicted, gold)
assert abs(r - pearsonr(predicted, gold).statistic) < 1e-12
assert abs(rho - spearmanr(predicted, gold).statistic) < 1e-12
print(f"STS-B-like scores in the right order on the wrong scale: Pearson {r:.3f}, Spearman {rho:.3f}")
# --8<-- [end:check]
