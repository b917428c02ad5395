"""Judges and leaderboards: Cohen's kappa (equal to scikit-learn) for a judge with a position bias, and
Elo and Bradley-Terry ratings fitted from generated pairwise preferences, Bradley-Terry checked against
scikit-learn's logistic regression."""

# --8<-- [start:agreement]
import math
import random

from sklearn.linear_model import LogisticRegression
from sklearn.metrics import cohen_kappa_score

from genai_guide.metrics import bradley_terry, cohen_kappa, elo_ratings, win_probability

rng = random.Random(0)
human = rng.choices(["A", "B", "tie"], weights=[45, 45, 10], k=400)  # which of two answers is better
flip = {"A": "B", "B": "A", "tie": "tie"}


def llm_judge(truth: str) -> str:  # right 70% of the time; otherwise it prefers the answer shown first
    return truth if rng.random() < 0.7 else rng.choices(["A", "B", "tie"], weights=[70, 20, 10])[0]


judge = [llm_judge(t) for t in human]
judge_swapped = [flip[llm_judge(flip[t])] for t in human]  # answers shown in the other order, verdict mapped back
agreement = sum(h == j for h, j in zip(human, judge)) / len(human)
kappa = cohen_kappa(human, judge)
assert abs(kappa - cohen_kappa_score(human, judge)) < 1e-12
print(f"judge agrees with humans on {agreement:.1%} of {len(human)} pairs; Cohen's kappa {kappa:.3f}")
print(f"'A' wins: humans {human.count('A') / len(human):.1%}, judge {judge.count('A') / len(judge):.1%}; "
      f"same verdict with the answers swapped: {sum(a == b for a, b in zip(judge, judge_swapped)) / len(judge):.1%}")
# --8<-- [end:agreement]

# --8<-- [start:ratings]
true_rating = {"model-a": 1150, "model-b": 1100, "model-c": 1000, "model-d": 950, "model-e": 800}
models = list(true_rating)
battles = []  # (a, b, score of a): 1 win, 0 loss, 0.5 tie
for _ in range(1500):
    a, b = rng.sample(models, 2)
    if rng.random() < 0.1:
        battles.append((a, b, 0.5))
    else:
        battles.append((a, b, float(rng.random() < win_probability(true_rating[a], true_rating[b]))))

elo_played = elo_ratings(battles)  # K = 4, FastChat's defaults
elo_reversed = elo_ratings(battles[::-1])  # the same battles, last first
bt = bradley_terry(battles)
assert all(abs(bt[m] - bradley_terry(battles[::-1])[m]) < 1e-9 for m in models)  # order does not matter

# The same fit as a logistic regression: +ln 10 for a, -ln 10 for b, no intercept; a tie is half a win each
X, y, weight = [], [], []
for a, b, s in battles:
    row = [math.log(10) * ((m == a) - (m == b)) for m in models]
    X += [row, row]
    y += [1, 0]
    weight += [s, 1 - s]
lr = LogisticRegression(C=1e10, fit_intercept=False, tol=1e-10, max_iter=10_000).fit(X, y, sample_weight=weight)
sklearn = [400 * c for c in lr.coef_[0]]
sklearn = [1000 + s - sum(sklearn) / len(sklearn) for s in sklearn]  # ratings average 1000, like ours
assert all(abs(bt[m] - s) < 1e-3 for m, s in zip(models, sklearn))

print(f"\n{len(battles)} battles  true   Elo (played)  Elo (reversed)  Bradley-Terry  sklearn")
for m, s in sorted(zip(models, sklearn), key=lambda ms: -bt[ms[0]]):
    print(f"{m:13s} {true_rating[m]:5d}  {elo_played[m]:12.1f}  {elo_reversed[m]:14.1f}  {bt[m]:13.1f}  {s:7.1f}")
print(f"P(model-a beats model-e) = {win_probability(bt['model-a'], bt['model-e']):.3f} by Bradley-Terry, "
      f"{win_probability(true_rating['model-a'], true_rating['model-e']):.3f} in truth")
# --8<-- [end:ratings]
