"""Shared test setup: hermetic runs, the page-fence filter and the slow-snippet report.

At the repository root so that it applies both to `tests/` and to the Python fences that
pytest-markdown-docs collects from `docs/`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
OFFLINE = ROOT / "tests" / "offline"

# Hermetic: Hugging Face libraries must never reach a hub, in this process or in subprocesses.
HERMETIC_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
    "PYTHONHASHSEED": "0",
    "MPLBACKEND": "Agg",
    "NO_MKDOCS_2_WARNING": "1",
}
os.environ.update(HERMETIC_ENV)


def subprocess_env(**extra: str) -> dict[str, str]:
    """Environment for a Python subprocess: hermetic, network blocked by tests/offline/sitecustomize."""
    env = {**os.environ, **HERMETIC_ENV, **extra}
    env["PYTHONPATH"] = os.pathsep.join([str(OFFLINE), str(ROOT / "src"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.pop("PYTEST_CURRENT_TEST", None)
    return env


def run_python(args: list[str], timeout: float, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=subprocess_env(**env), capture_output=True,
                          text=True, timeout=timeout)


def pytest_collection_modifyitems(config, items):
    """Fences that only include a snippet (`--8<--`) are tested as snippet files, not as page code."""
    keep, drop = [], []
    for item in items:
        definition = getattr(item, "test_definition", None)
        source = getattr(definition, "source", "") if definition is not None else ""
        (drop if "--8<--" in source else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_terminal_summary(terminalreporter):
    timings = []
    for report in terminalreporter.stats.get("passed", []) + terminalreporter.stats.get("failed", []):
        props = dict(getattr(report, "user_properties", []))
        if "snippet_seconds" in props:
            timings.append((props["snippet_seconds"], props.get("snippet_wall_seconds", 0.0), report.nodeid))
    if timings:
        terminalreporter.section("slowest snippets (budget: 10 CPU seconds each)")
        for cpu, wall, nodeid in sorted(timings, reverse=True)[:10]:
            terminalreporter.write_line(f"{cpu:6.2f} CPU s {wall:6.2f} wall s  {nodeid}")


@pytest.fixture(scope="session")
def built_site(tmp_path_factory) -> Path:
    """`mkdocs build --strict` into a temporary folder, once per session (worker)."""
    site = tmp_path_factory.mktemp("site") / "site"
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
                            cwd=ROOT, env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stderr[-6000:]}"
    return site
