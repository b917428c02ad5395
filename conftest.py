"""Shared test setup: hermetic runs, programs on each numeric path, and the page-fence filter.

At the repository root so that it applies both to `tests/` and to the Python fences that
pytest-markdown-docs collects from `docs/`.
"""

from __future__ import annotations

import functools
import json
import os
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
    # Idle OpenMP threads sleep instead of spinning: two test workers each running a two-thread torch
    # program oversubscribe two cores, and spinning threads then took a small training loop from 14 s
    # to 33 s under load here. Results do not depend on it; a reader's own setting wins.
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    env["PYTHONPATH"] = os.pathsep.join([str(OFFLINE), str(ROOT / "src"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.pop("PYTEST_CURRENT_TEST", None)
    return env


def _capability_below_native() -> str:
    """The ATen kernels one level below this CPU's: AVX2 on an AVX-512 machine (exactly what the AVX2
    kind runs), the portable default kernels on an AVX2 one."""
    import torch

    return "avx2" if torch.backends.cpu.get_cpu_capability().lower().startswith("avx512") else "default"


# The numeric paths each program is checked on. Float results depend on the CPU kernels torch picks
# (AVX-512, AVX2 or none), on MKL's and oneDNN's code paths and on the thread count; the perturbed
# path changes all four on any x86-64 machine (ATen one level down, MKL's AVX branch and oneDNN's
# SSE4.1 kernels are below what an AVX2 or AVX-512 machine picks natively), so one machine shows what
# another CPU would print. Snippets run natively and each page, which runs the same code again, runs
# on the perturbed path; notebooks run on the perturbed path against outputs stored natively.
NUMERIC_PATHS = ("native", "perturbed")


@functools.cache
def numeric_env(numeric: str) -> dict[str, str]:
    """The environment of a numeric path (asked for when a program first runs on it: torch is imported
    to read the CPU's capability, which the pytest process itself never needs)."""
    if numeric == "native":
        return {}
    if numeric != "perturbed":
        raise ValueError(f"numeric must be one of {NUMERIC_PATHS}, got {numeric!r}")
    return {"ATEN_CPU_CAPABILITY": _capability_below_native(), "MKL_CBWR": "AVX", "ONEDNN_MAX_CPU_ISA": "SSE41",
            "OMP_NUM_THREADS": "1" if len(os.sched_getaffinity(0)) > 1 else "2"}


HANG_GUARD_S = 600  # a hung program fails instead of stalling the suite; a guard, not a budget


def run_python(args: list[str], timeout: float, cwd: Path | str = ROOT, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=cwd, env=subprocess_env(**env), capture_output=True,
                          text=True, timeout=timeout)


class Zygote:
    """Client of tests/zygote.py: runs `python program.py` in a child forked from a warm interpreter
    that was started on one numeric path."""

    def __init__(self, numeric: str = "native") -> None:
        self.numeric_env = numeric_env(numeric)
        self.errors = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 - its own stderr
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "zygote.py")], cwd=ROOT,
                                     env=subprocess_env(**self.numeric_env), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.errors, text=True, encoding="utf-8")
        ready = self.proc.stdout.readline()
        if not ready:
            raise RuntimeError(f"tests/zygote.py did not start:\n{self.stderr()}")

    def run(self, argv: list[str], timeout: float, env: dict[str, str], cwd: Path | str) -> dict:
        request = {"argv": argv, "env": {**env, **self.numeric_env}, "cwd": str(cwd), "timeout": timeout}
        self.proc.stdin.write(json.dumps(request) + "\n")
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


_ZYGOTES: dict[str, Zygote] = {}


@dataclass
class ProgramRun:
    returncode: int
    stdout: str
    stderr: str


def run_program(path: str | Path, timeout: float, cwd: Path | str = ROOT, numeric: str = "native",
                cold: bool = False, args: tuple[str, ...] = (), **env: str) -> ProgramRun:
    """`python path *args`, started in `cwd`, hermetic, on the numeric path `numeric` (see NUMERIC_PATHS), in a
    fresh process forked from a warm interpreter (see tests/zygote.py). `cold=True`, or
    GENAI_GUIDE_COLD=1 in the environment, starts a cold interpreter instead. `timeout` is a hang
    guard, not a budget: speed is measured by `make bench`."""
    if cold or os.environ.get("GENAI_GUIDE_COLD") == "1":
        result = run_python([str(path), *args], timeout=timeout, cwd=cwd, **numeric_env(numeric), **env)
        return ProgramRun(result.returncode, result.stdout, result.stderr)
    if numeric not in _ZYGOTES:
        _ZYGOTES[numeric] = Zygote(numeric)
    answer = _ZYGOTES[numeric].run([str(path), *args], timeout, subprocess_env(**env), cwd)
    if answer["timed_out"]:
        raise subprocess.TimeoutExpired([str(path)], timeout, answer["stdout"], answer["stderr"])
    return ProgramRun(answer["returncode"], answer["stdout"], answer["stderr"])


def pytest_sessionfinish(session):
    for zygote in _ZYGOTES.values():
        zygote.close()


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


@pytest.fixture(scope="session")
def built_site(tmp_path_factory, worker_id) -> Path:
    """`mkdocs build --strict` into a temporary folder, once per test run: the first xdist worker that
    asks builds it under a lock, the other finds it there (a build costs seconds of both cores)."""
    from filelock import FileLock

    shared = tmp_path_factory.getbasetemp() if worker_id == "master" else tmp_path_factory.getbasetemp().parent
    site, done = shared / "built-site", shared / "built-site.done"
    with FileLock(str(shared / "built-site.lock")):
        if not done.exists():
            result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
                                    cwd=ROOT, env=subprocess_env(), capture_output=True, text=True, timeout=300)
            done.write_text(f"{result.returncode}\n{result.stderr[-6000:]}", encoding="utf-8")
    returncode, _, stderr = done.read_text(encoding="utf-8").partition("\n")
    assert returncode == "0", f"mkdocs build --strict failed:\n{stderr}"
    return site
