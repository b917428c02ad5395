"""Hyperparameter tuning helpers, written to be read: a log-uniform grid, the spread of a result over
seeds, Welch's t-test between two configurations, and how many seeds a comparison needs.

The chapter [Hyperparameter tuning](../../shipping/tuning.md) explains them; `tests/test_tuning.py`
checks them against NumPy and SciPy:

- `log_grid`: values evenly spaced on a log scale, as `numpy.geomspace` makes them, for the grids of
  learning rates and weight decays;
- `seed_summary`: mean, sample standard deviation and standard error of one configuration's results
  over several seeds (equal to `numpy.std(ddof=1)` and `scipy.stats.sem`);
- `welch_t_test`: the difference of two configurations' means, its standard error, Welch's $t$, the
  Welch-Satterthwaite degrees of freedom and the two-sided p-value (equal to
  `scipy.stats.ttest_ind(a, b, equal_var=False)`);
- `runs_needed`: the seeds per configuration that make a given difference two standard errors.

Nothing here imports torch; only `welch_t_test` imports SciPy, for Student's t distribution.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Real
from typing import NamedTuple

from genai_guide._checks import check_int as _int

__all__ = ["SeedSummary", "WelchTest", "log_grid", "runs_needed", "seed_summary", "welch_t_test"]


def _positive(name: str, value: object) -> float:
    if not isinstance(value, Real) or isinstance(value, bool):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value}")
    return float(value)


def _results(name: str, values: object) -> list[float]:
    """The results of several seeds: at least two finite real numbers."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) and not hasattr(values, "tolist"):
        raise TypeError(f"{name} must be a sequence of numbers, got {type(values).__name__}")
    out = values.tolist() if hasattr(values, "tolist") else list(values)
    if not all(isinstance(v, Real) and not isinstance(v, bool) for v in out):
        raise TypeError(f"{name} must hold numbers only (a flat sequence)")
    if len(out) < 2:
        raise ValueError(f"{name} needs at least 2 results to estimate a spread, got {len(out)}")
    if not all(math.isfinite(v) for v in out):
        raise ValueError(f"{name} must be finite (a diverged run has no place in a mean)")
    return [float(v) for v in out]


def log_grid(low: float, high: float, num: int) -> list[float]:
    r"""``num`` values from ``low`` to ``high``, evenly spaced on a log scale.

    $$v_i = \mathrm{low} \cdot (\mathrm{high} / \mathrm{low})^{i / (\mathrm{num} - 1)}, \quad i = 0, \dots, \mathrm{num} - 1,$$

    so neighbours differ by the same factor: the natural grid for a learning rate or a weight decay,
    whose effect depends on its order of magnitude. Equal to ``numpy.geomspace(low, high, num)``, with
    both ends exact.

    Args:
        low: The smallest value, > 0.
        high: The largest value, > ``low``.
        num: How many values, >= 2.

    Returns:
        The grid, increasing.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If ``low`` or ``high`` is not a positive finite number, ``high <= low`` or ``num < 2``.
    """
    low, high = _positive("low", low), _positive("high", high)
    if high <= low:
        raise ValueError(f"high must be > low, got low={low}, high={high}")
    num = _int("num", num, 2)
    ratio = math.log(high / low)
    return [low] + [low * math.exp(ratio * i / (num - 1)) for i in range(1, num - 1)] + [high]


class SeedSummary(NamedTuple):
    """One configuration's results over ``n`` seeds."""

    n: int
    mean: float
    std: float  # sample standard deviation (divides by n - 1): the spread of one run
    sem: float  # standard error of the mean, std / sqrt(n): the uncertainty of the mean


def seed_summary(values: Sequence[float]) -> SeedSummary:
    r"""Mean, sample standard deviation and standard error of results over seeds.

    $$\bar x = \frac{1}{n}\sum_i x_i, \qquad s = \sqrt{\frac{1}{n - 1}\sum_i (x_i - \bar x)^2}, \qquad
    \mathrm{SE} = \frac{s}{\sqrt n}.$$

    $s$ says how far one run may land from the mean; $\mathrm{SE}$ how far the mean of $n$ runs may
    land from the mean of infinitely many. Equal to ``numpy.std(values, ddof=1)`` and
    ``scipy.stats.sem(values)``.

    Args:
        values: The metric of one configuration, one number per seed; at least 2, all finite.

    Returns:
        A `SeedSummary` ``(n, mean, std, sem)``.

    Raises:
        TypeError: If ``values`` is not a flat sequence of numbers.
        ValueError: If it has fewer than 2 values or a value that is not finite.
    """
    x = _results("values", values)
    n = len(x)
    mean = math.fsum(x) / n
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in x) / (n - 1))
    return SeedSummary(n, mean, std, std / math.sqrt(n))


class WelchTest(NamedTuple):
    """Welch's t-test of two configurations' results."""

    difference: float  # mean(a) - mean(b)
    standard_error: float  # of the difference
    t: float  # difference / standard_error
    df: float  # Welch-Satterthwaite degrees of freedom
    p_value: float  # two-sided


def welch_t_test(a: Sequence[float], b: Sequence[float]) -> WelchTest:
    r"""Is the difference between two configurations' mean results larger than seed noise?

    With $\bar a, s_a, n_a$ and $\bar b, s_b, n_b$ from `seed_summary`, Welch (1947) compares

    $$t = \frac{\bar a - \bar b}{\sqrt{s_a^2 / n_a + s_b^2 / n_b}}, \qquad
    \nu = \frac{(s_a^2/n_a + s_b^2/n_b)^2}{\frac{(s_a^2/n_a)^2}{n_a - 1} + \frac{(s_b^2/n_b)^2}{n_b - 1}}$$

    with Student's t distribution of $\nu$ degrees of freedom, without assuming that the two
    configurations spread equally. $|t| < 2$ (a difference under two standard errors) is noise at
    about the 5% level. Equal to ``scipy.stats.ttest_ind(a, b, equal_var=False)``.

    Args:
        a: One configuration's results, one per seed; at least 2, finite.
        b: The other configuration's results; at least 2, finite.

    Returns:
        A `WelchTest` ``(difference, standard_error, t, df, p_value)``.

    Raises:
        TypeError: If ``a`` or ``b`` is not a flat sequence of numbers.
        ValueError: If either has fewer than 2 values or a non-finite one, or if both have no spread
            at all (the test is undefined).
    """
    sa, sb = seed_summary(_results("a", a)), seed_summary(_results("b", b))
    va, vb = sa.sem**2, sb.sem**2  # squared standard errors of the two means
    if va + vb == 0:
        raise ValueError("a and b both have zero spread: the t statistic is undefined")
    se = math.sqrt(va + vb)
    t = (sa.mean - sb.mean) / se
    df = (va + vb) ** 2 / (va**2 / (sa.n - 1) + vb**2 / (sb.n - 1))
    from scipy.special import stdtr  # Student's t cumulative distribution function

    return WelchTest(sa.mean - sb.mean, se, t, df, float(2 * stdtr(df, -abs(t))))


def runs_needed(std: float, difference: float, z: float = 2.0) -> int:
    r"""Seeds per configuration so that a true ``difference`` between two means is ``z`` standard errors.

    Two configurations with the same run-to-run spread $s$, $n$ seeds each, have a difference of means
    with standard error $s\sqrt{2/n}$; it is $z$ standard errors when

    $$n = \Big\lceil 2 \Big(\frac{z\, s}{\delta}\Big)^2 \Big\rceil.$$

    Args:
        std: The standard deviation of one run's result over seeds, > 0.
        difference: The difference of means to resolve, $\delta \ne 0$ (its sign is ignored).
        z: How many standard errors, > 0; 2 is about the 5% level.

    Returns:
        The smallest $n$ (at least 2) with $z\, s \sqrt{2/n} \le |\delta|$.

    Raises:
        TypeError: If an argument is not a number.
        ValueError: If ``std`` or ``z`` is not a positive finite number or ``difference`` is 0 or not finite.
    """
    std, z = _positive("std", std), _positive("z", z)
    if not isinstance(difference, Real) or isinstance(difference, bool):
        raise TypeError(f"difference must be a number, got {type(difference).__name__}")
    if not math.isfinite(difference) or difference == 0:
        raise ValueError(f"difference must be a finite nonzero number, got {difference}")
    delta = abs(float(difference))
    n = max(2, math.ceil(2 * (z * std / delta) ** 2))
    while n > 2 and z * std * math.sqrt(2 / (n - 1)) <= delta:  # ceil of a rounded float: step back
        n -= 1
    while z * std * math.sqrt(2 / n) > delta:
        n += 1
    return n
