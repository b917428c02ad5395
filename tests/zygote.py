"""A warm interpreter for the snippet and page tests: it imports the heavy libraries once, then runs
each program in a forked child, as `python program.py` would in a fresh interpreter.

Why: a cold `import torch, transformers` costs about 3 CPU seconds here, more than most snippets
spend on their own work, and the suite runs each snippet and each page. Forking after the imports
keeps every program isolated (its own process, its own `__main__`, globals, RNG state as a fresh
interpreter has them, exit status, stdout and stderr) while paying the imports once per test worker.

What the tests still guarantee:
- the parent only imports; it runs no tensor operation (so no OpenMP pool exists when it forks), and
  `tests/test_zygote.py` checks that a child cannot tell it was forked: same `sys.path[0]`, `__file__`,
  `__name__`, argv, working folder, environment overrides, seeds, exit codes and float results on
  its numeric path as a fresh interpreter.

The numeric path (ATEN_CPU_CAPABILITY, MKL_CBWR, OMP_NUM_THREADS) is the zygote's own: those
variables are read when the libraries load, so a zygote is started with them and every child inherits
them; the tests keep one zygote for each numeric path they check (conftest.NUMERIC_PATHS).

Protocol: one JSON request a line on stdin, {"argv": [...], "env": {...}, "cwd": dir, "timeout": s}; one JSON
answer a line on stdout, {"returncode", "stdout", "stderr", "cpu", "timed_out"}.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import sys
import tempfile
import time

# What snippets and pages import most; each import here is paid once per test worker.
PRELOAD = (
    "numpy",
    "torch",
    "torch.nn.functional",
    "matplotlib.pyplot",
    "tokenizers",
    "transformers",
    "transformers.modeling_utils",
    "transformers.models.gpt2.modeling_gpt2",
    "transformers.models.bert.modeling_bert",
    "transformers.models.llama.modeling_llama",
    "transformers.generation.utils",
    "transformers.trainer",
    "peft",
    "trl",
    "IPython.core.interactiveshell",
    "sklearn.datasets",  # nine programs load the digits or use its metrics; 1.5 s each when cold
)


def _preload() -> float:
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _child(argv: list[str], env: dict[str, str], cwd: str, out_path: str, err_path: str) -> None:
    """Runs in the forked process: become `python argv[0] argv[1:]`, started in `cwd`, and never return."""
    import atexit
    import random
    import runpy
    import traceback

    out_fd, err_fd = os.open(out_path, os.O_WRONLY), os.open(err_path, os.O_WRONLY)
    os.dup2(out_fd, 1)
    os.dup2(err_fd, 2)
    unbuffered = bool(env.get("PYTHONUNBUFFERED"))  # as `python -u` would write
    sys.stdout = open(1, "w", encoding="utf-8", closefd=False, buffering=1 if unbuffered else -1)  # noqa: SIM115
    sys.stdout.reconfigure(write_through=unbuffered)
    sys.stderr = open(2, "w", encoding="utf-8", closefd=False, buffering=1)  # noqa: SIM115
    sys.stderr.reconfigure(write_through=True)
    sys.stdin = open(os.devnull, encoding="utf-8")  # noqa: SIM115
    os.environ.update(env)
    os.chdir(cwd)
    # A fresh interpreter seeds these generators from the OS: so does each child, so that a program
    # that forgets to seed prints something different each run, exactly as it would from a shell.
    random.seed()
    sys.modules["numpy"].random.seed()
    sys.modules["torch"].seed()
    script = os.path.abspath(argv[0])
    sys.argv = list(argv)
    sys.path[0] = os.path.dirname(script)  # what `python script.py` puts first on the path
    code = 0
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        if exit_.code is not None and not isinstance(exit_.code, int):
            print(exit_.code, file=sys.stderr)
    except BaseException:  # noqa: BLE001 - report like the interpreter does
        traceback.print_exc()
        code = 1
    try:
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


def _run(request: dict) -> dict:
    # mkdtemp, not TemporaryDirectory: the child runs the atexit hooks it inherits (as a fresh
    # interpreter runs its libraries' hooks), and a finalizer of ours would delete this folder.
    tmp = tempfile.mkdtemp(prefix="zygote-")
    try:
        out_path, err_path = os.path.join(tmp, "stdout"), os.path.join(tmp, "stderr")
        open(out_path, "w").close()  # noqa: SIM115
        open(err_path, "w").close()  # noqa: SIM115
        pid = os.fork()
        if pid == 0:
            try:
                _child(request["argv"], request.get("env", {}), request.get("cwd", os.getcwd()), out_path, err_path)
            finally:
                os._exit(70)  # only reached if the child's own set-up failed
        deadline = time.monotonic() + float(request.get("timeout", 60))
        timed_out = False
        while True:
            done, status, usage = os.wait4(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                done, status, usage = os.wait4(pid, 0)
                timed_out = True
                break
            time.sleep(0.01)
        with open(out_path, encoding="utf-8", errors="replace") as f:
            stdout = f.read()
        with open(err_path, encoding="utf-8", errors="replace") as f:
            stderr = f.read()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    returncode = os.waitstatus_to_exitcode(status)
    return {"returncode": returncode, "stdout": stdout, "stderr": stderr, "timed_out": timed_out,
            "cpu": usage.ru_utime + usage.ru_stime}


def main() -> None:
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # imports must not write into the protocol
    import_cpu = _preload()
    answers.write(json.dumps({"ready": True, "import_cpu": import_cpu}) + "\n")
    answers.flush()
    for line in sys.stdin:
        if not line.strip():
            continue
        answers.write(json.dumps(_run(json.loads(line))) + "\n")
        answers.flush()


if __name__ == "__main__":
    main()
