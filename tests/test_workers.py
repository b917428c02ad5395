"""The suite's two workers split the tests so that shared costs are paid once: every test of an
`xdist_group` (the browser tests: one Chromium and one server; the site checks: each page parsed once)
runs on one worker, under `--dist loadgroup`.

pytest 9.2 with pytest-xdist 3.8 drops the group silently (pytest-xdist#1386: the worker marks a test's
group by rewriting its node id, which pytest 9.2 no longer reads), and the groups' tests then spread over
both workers, each paying for its own browser and its own parse of the site. This test runs a small
suite the way `make test` runs the book's and fails if a group is split.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from conftest import subprocess_env


def test_a_group_runs_on_one_worker(tmp_path: Path):
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    for name in ("a", "b"):
        (tmp_path / f"test_{name}.py").write_text(
            "import pytest\n"
            f"pytestmark = pytest.mark.xdist_group({name!r})\n"
            "@pytest.mark.parametrize('i', range(6))\n"
            "def test_x(i):\n    pass\n", encoding="utf-8")
    (tmp_path / "test_free.py").write_text(
        "import pytest\n@pytest.mark.parametrize('i', range(6))\ndef test_y(i):\n    pass\n", encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-v", "-p",
                             "no:cacheprovider", "-p", "no:randomly"], cwd=tmp_path, env=subprocess_env(),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    ran = re.findall(r"\[(gw\d)\] .*? PASSED (test_\w+)\.py::", result.stdout)
    assert len(ran) == 18, result.stdout[-3000:]
    workers = {module: {w for w, m in ran if m == module} for module in ("test_a", "test_b", "test_free")}
    split = [m for m in ("test_a", "test_b") if len(workers[m]) != 1]
    assert not split, f"tests of one xdist_group ran on several workers: {workers} (pytest-xdist#1386?)"
