"""The warm runner (tests/zygote.py) must be indistinguishable from `python program.py`."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import NUMERIC_PATHS, numeric_env, run_program

PROBE = '''
import os, random, sys
import numpy, torch
print("name", __name__)
print("file", os.path.basename(__file__))
print("path0", os.path.basename(sys.path[0]))
print("argv", [os.path.basename(a) for a in sys.argv])
print("env", os.environ.get("PROBE_VALUE"))
print("stdin", repr(sys.stdin.read()))
print("threads", torch.get_num_threads())
print("cwd", os.path.basename(os.getcwd()))
torch.manual_seed(0)
x, a = torch.randn(2_000_003), torch.randn(257, 513)
print("floats", f"{x.sum().item():.10f} {(a @ a.T).sum().item():.10f}")
'''


@pytest.fixture
def probe(tmp_path: Path) -> Path:
    folder = tmp_path / "probe_dir"
    folder.mkdir()
    path = folder / "probe.py"
    path.write_text(PROBE, encoding="utf-8")
    return path


@pytest.mark.parametrize("numeric", list(NUMERIC_PATHS))
def test_a_warm_child_sees_what_a_cold_interpreter_sees(probe: Path, tmp_path: Path, numeric: str):
    """The same text, float digits included, on each numeric path; started in the folder asked for."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    warm = run_program(probe, timeout=60, cwd=elsewhere, numeric=numeric, PROBE_VALUE="42")
    cold = run_program(probe, timeout=60, cwd=elsewhere, numeric=numeric, cold=True, PROBE_VALUE="42")
    assert warm.returncode == cold.returncode == 0, warm.stderr + cold.stderr
    assert warm.stdout == cold.stdout
    assert "name __main__" in warm.stdout and "path0 probe_dir" in warm.stdout and "env 42" in warm.stdout
    assert "cwd elsewhere" in warm.stdout


def test_the_perturbed_path_catches_a_fragile_program(probe: Path):
    """A float32 result printed to its last digits belongs to one CPU: the perturbed path prints other
    digits, so a page that shows such a number fails its test on every machine, not only on another CPU."""
    native, perturbed = (run_program(probe, timeout=60, numeric=n).stdout.splitlines() for n in NUMERIC_PATHS)
    floats = [line for line in native if line.startswith("floats")]
    assert floats and floats != [line for line in perturbed if line.startswith("floats")]
    threads = {n: [line for line in out if line.startswith("threads")]
               for n, out in (("native", native), ("perturbed", perturbed))}
    assert threads["perturbed"] == [f"threads {numeric_env('perturbed')['OMP_NUM_THREADS']}"]
    assert threads["native"] != threads["perturbed"]


def test_children_do_not_share_random_state(tmp_path: Path):
    program = tmp_path / "draw.py"
    program.write_text("import random, numpy, torch\n"
                       "print(random.getrandbits(64), numpy.random.randint(2**31), torch.randint(2**31, ()).item())\n",
                       encoding="utf-8")
    for cold in (True, False):
        first, second = (run_program(str(program), timeout=60, cold=cold).stdout.split() for _ in range(2))
        assert len(first) == len(second) == 3
        differ = [a != b for a, b in zip(first, second, strict=True)]
        assert all(differ), f"unseeded generators must differ between runs (random, numpy, torch): {differ}"


@pytest.mark.parametrize(("source", "code", "stderr"), [
    ("import sys\nsys.exit(3)\n", 3, ""),
    ("raise ValueError('boom')\n", 1, "ValueError: boom"),
    ("import sys\nsys.exit('bye')\n", 1, "bye"),
    ("print('partial', flush=False)\nimport os\nos._exit(5)\n", 5, ""),
])
def test_exit_status_and_errors_are_reported(tmp_path: Path, source: str, code: int, stderr: str):
    program = tmp_path / "exit.py"
    program.write_text(source, encoding="utf-8")
    warm = run_program(str(program), timeout=60)
    cold = run_program(str(program), timeout=60, cold=True)
    assert warm.returncode == cold.returncode == code
    assert stderr in warm.stderr and stderr in cold.stderr
    assert warm.stdout == cold.stdout


def test_the_child_is_hermetic(tmp_path: Path):
    program = tmp_path / "net.py"
    program.write_text("import socket\nsocket.create_connection(('example.com', 80), timeout=5)\n", encoding="utf-8")
    result = run_program(str(program), timeout=60)
    assert result.returncode != 0 and "NetworkBlockedError" in result.stderr


def test_a_runaway_program_is_stopped(tmp_path: Path):
    import subprocess

    program = tmp_path / "loop.py"
    program.write_text("while True:\n    pass\n", encoding="utf-8")
    with pytest.raises(subprocess.TimeoutExpired):
        run_program(str(program), timeout=1)
