"""genai_guide.tuning against NumPy, SciPy and Optuna.

`log_grid` equals `numpy.geomspace` with exact ends, and Optuna's GridSampler visits exactly the grid it
is given; `seed_summary` equals `numpy.std(ddof=1)` and `scipy.stats.sem`; `welch_t_test` equals
`scipy.stats.ttest_ind(equal_var=False)` (statistic, degrees of freedom, p-value) on random samples of
unequal sizes and spreads; `runs_needed` is the smallest n whose standard error of a difference is small
enough. Bad input is rejected with errors that name the argument.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import optuna
import pytest
from scipy import stats

from genai_guide.tuning import log_grid, runs_needed, seed_summary, welch_t_test


@pytest.mark.parametrize(("low", "high", "num"), [(1e-4, 1.0, 5), (3e-5, 0.3, 13), (0.5, 2.0, 2), (1.0, 1e6, 7)])
def test_log_grid_is_geomspace_with_exact_ends(low, high, num):
    grid = log_grid(low, high, num)
    np.testing.assert_allclose(grid, np.geomspace(low, high, num), rtol=1e-13)
    assert grid[0] == low and grid[-1] == high and len(grid) == num
    ratios = np.diff(np.log(grid))
    np.testing.assert_allclose(ratios, ratios[0], rtol=1e-9)  # a constant factor between neighbours


def test_grid_sampler_visits_exactly_the_grid():
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = {"lr": log_grid(1e-3, 1.0, 4), "wd": log_grid(1e-4, 1e-1, 3)}
    study = optuna.create_study(sampler=optuna.samplers.GridSampler(space, seed=0))
    study.optimize(lambda t: t.suggest_float("lr", 1e-3, 1.0, log=True) + t.suggest_float("wd", 1e-4, 1e-1, log=True))
    visited = sorted((t.params["lr"], t.params["wd"]) for t in study.trials)  # stops when the grid is done
    assert visited == sorted(itertools.product(space["lr"], space["wd"]))


def test_seed_summary_matches_numpy_and_scipy():
    rng = np.random.default_rng(0)
    for n in (2, 3, 10, 57):
        x = rng.normal(rng.uniform(-5, 5), rng.uniform(0.01, 3), n)
        s = seed_summary(x)
        assert s.n == n
        assert s.mean == pytest.approx(np.mean(x), rel=1e-13, abs=1e-13)
        assert s.std == pytest.approx(np.std(x, ddof=1), rel=1e-12)
        assert s.sem == pytest.approx(stats.sem(x), rel=1e-12)
    assert seed_summary([1, 2, 3]) == (3, 2.0, 1.0, 1 / math.sqrt(3))  # ints are numbers too


def test_welch_t_test_matches_scipy():
    rng = np.random.default_rng(1)
    for _ in range(50):
        na, nb = rng.integers(2, 30, 2)
        a = rng.normal(rng.uniform(-1, 1), rng.uniform(0.05, 2), na)
        b = rng.normal(rng.uniform(-1, 1), rng.uniform(0.05, 2), nb)
        ours, ref = welch_t_test(a, b), stats.ttest_ind(a, b, equal_var=False)
        assert ours.t == pytest.approx(ref.statistic, rel=1e-10)
        assert ours.df == pytest.approx(ref.df, rel=1e-10)
        assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-8, abs=1e-300)
        assert ours.difference == pytest.approx(np.mean(a) - np.mean(b), rel=1e-12, abs=1e-14)
        assert ours.standard_error == pytest.approx(math.hypot(stats.sem(a), stats.sem(b)), rel=1e-12)
    one_spread = welch_t_test([3.0, 3.0, 3.0], [0.0, 1.0, 2.0])  # one sample without spread is fine:
    assert (one_spread.t, one_spread.df) == pytest.approx((2 / math.sqrt(1 / 3), 2.0))  # all the error is b's


@pytest.mark.parametrize(("std", "difference", "z"), [(0.02, 0.01, 2.0), (1.0, 1.0, 2.0), (0.05, -0.003, 1.96),
                                                      (3.0, 0.1, 3.0), (0.1, 10.0, 2.0)])
def test_runs_needed_is_the_smallest_n(std, difference, z):
    n = runs_needed(std, difference, z)
    assert n >= 2
    assert z * std * math.sqrt(2 / n) <= abs(difference)
    assert n == 2 or z * std * math.sqrt(2 / (n - 1)) > abs(difference)
    assert runs_needed(0.02, 0.01) == 32  # 2 * (2 * 0.02 / 0.01)^2


def test_bad_input_is_rejected_naming_the_argument():
    with pytest.raises(ValueError, match="low"):
        log_grid(0.0, 1.0, 3)
    with pytest.raises(ValueError, match="high must be > low"):
        log_grid(1.0, 0.1, 3)
    with pytest.raises(ValueError, match="num"):
        log_grid(1e-3, 1.0, 1)
    with pytest.raises(TypeError, match="num"):
        log_grid(1e-3, 1.0, 3.0)
    with pytest.raises(ValueError, match="values needs at least 2"):
        seed_summary([0.5])
    with pytest.raises(ValueError, match="values must be finite"):
        seed_summary([0.5, float("nan")])
    with pytest.raises(TypeError, match="values must be a sequence"):
        seed_summary("0.5 0.6")
    with pytest.raises(TypeError, match="values must hold numbers"):
        seed_summary(np.ones((2, 2)))
    with pytest.raises(ValueError, match="b needs at least 2"):
        welch_t_test([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="zero spread"):
        welch_t_test([1.0, 1.0], [2.0, 2.0])
    with pytest.raises(ValueError, match="std"):
        runs_needed(0.0, 0.1)
    with pytest.raises(ValueError, match="difference must be a finite nonzero"):
        runs_needed(0.1, 0.0)
    with pytest.raises(TypeError, match="difference"):
        runs_needed(0.1, "0.1")
    with pytest.raises(ValueError, match="z"):
        runs_needed(0.1, 0.1, z=-2.0)
