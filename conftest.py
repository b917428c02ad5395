"""Shared test setup: hermetic runs, the page-fence filter and the slow-snippet report.

At the repository root so that it applies both to `tests/` and to the Python fences that
pytest-markdown-docs collects from `docs/`.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
from dataclasses import dataclass
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


class Zygote:
    """Client of tests/zygote.py: runs `python program.py` in a child forked from a warm interpreter."""

    def __init__(self) -> None:
        self.errors = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 - its own stderr
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "zygote.py")], cwd=ROOT,
                                     env=subprocess_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.errors, text=True, encoding="utf-8")
        ready = self.proc.stdout.readline()
        if not ready:
            raise RuntimeError(f"tests/zygote.py did not start:\n{self.stderr()}")
        self.import_cpu = json.loads(ready)["import_cpu"]

    def run(self, argv: list[str], timeout: float, env: dict[str, str]) -> dict:
        self.proc.stdin.write(json.dumps({"argv": argv, "env": env, "timeout": timeout}) + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline()
        if not answer:
            raise RuntimeError(f"tests/zygote.py died:\n{self.stderr()}")
        return json.loads(answer)

    def stderr(self) -> str:
        self.errors.seek(0)
        return self.errors.read()[-4000:]

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


_ZYGOTE: Zygote | None = None


@dataclass
class ProgramRun:
    returncode: int
    stdout: str
    stderr: str
    cpu: float  # CPU seconds of the program's process, plus the imports the warm parent paid for it


def run_program(path: str, timeout: float, cold: bool = False, **env: str) -> ProgramRun:
    """`python path` from the repository root, hermetic, in a fresh process forked from a warm
    interpreter (see tests/zygote.py). `cold=True`, or GENAI_GUIDE_COLD=1 in the environment, starts a
    cold interpreter instead."""
    global _ZYGOTE
    if cold or os.environ.get("GENAI_GUIDE_COLD") == "1":
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        result = run_python([path], timeout=timeout, **env)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return ProgramRun(result.returncode, result.stdout, result.stderr, cpu)
    if _ZYGOTE is None:
        _ZYGOTE = Zygote()
    answer = _ZYGOTE.run([path], timeout, subprocess_env(**env))
    if answer["timed_out"]:
        raise subprocess.TimeoutExpired([path], timeout, answer["stdout"], answer["stderr"])
    return ProgramRun(answer["returncode"], answer["stdout"], answer["stderr"],
                      answer["cpu"] + _ZYGOTE.import_cpu)


def pytest_sessionfinish(session):
    if _ZYGOTE is not None:
        _ZYGOTE.close()


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
