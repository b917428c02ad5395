"""`make bench`: the book's budgets, measured and printed against their limits.

Speed lives here, never in `make test`. Each time is printed next to its budget and as a ratio to a
reference measured in the same run, a cold `python -c "import torch, transformers"` (median of 3):
the seconds say whether this machine meets the budget, the ratio lets figures from a fast machine and
a slow one (or a quiet run and a busy one) be compared.

| figure                                          | budget (2 cores)      |
|-------------------------------------------------|-----------------------|
| each snippet, cold, as a reader runs it         | < 10 s                |
| `mkdocs build --strict` (median of 3)           | < 30 s                |
| incremental rebuild under `mkdocs serve`        | < 5 s                 |
| full `make test`                                | < 300 s (the slower kind, AVX2 only) |
| chapter page weight before math/diagrams        | < 1 MB                |
| Lighthouse (desktop preset), home and chapter: performance, accessibility, best practices >= 95, SEO >= 90 |

Lighthouse's mobile preset (simulated slow 4G and a 4x slower CPU) is run too and printed for
information. Results are also written to bench/results.json (ignored by git).
`python -m bookkit.bench --only snippets` (or build, pages, rebuild, test) measures a part.
"""

from __future__ import annotations

import functools
import gzip
import io
import http.server
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from bookkit import ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROME_FLAGS = ("--headless=new --no-sandbox --disable-gpu --disable-background-networking "
                "--disable-component-update --no-first-run --disable-sync --disable-quic")
ENV = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "HF_HUB_OFFLINE": "1"}
SERVE_ENV = {**ENV, "SITE_URL": "http://127.0.0.1:8765/"}
# Run through npx rather than kept in package.json: lighthouse's dependency tree names a "latest"
# dist-tag, which keeps `npm ci` from ever matching the lock file. Lighthouse 12 runs on Node 20.
LIGHTHOUSE = "lighthouse@12.8.2"
PAGES = {"home": "index.html", "chapter": "architectures/attention.html"}
BUDGETS_S = {"snippet": 10.0, "build": 30.0, "rebuild": 5.0, "test": 300.0}
LAZY_ASSETS = ("assets/vendor/katex/", "assets/vendor/mermaid/")  # math and diagrams, loaded after the page
SEARCH_INDEX = "search/search_index"  # site-wide, fetched by the search worker and cached across pages


def reference_seconds(runs: int = 3) -> float:
    """The unit of every time budget: a cold `import torch, transformers`, median of `runs`."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import torch, transformers"], cwd=ROOT, env=ENV, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def snippet_seconds() -> list[tuple[float, float, str]]:
    """(wall s, CPU s, name) of every snippet run cold from an empty folder, as a reader runs it."""
    import resource

    rows = []
    for snippet in sorted((ROOT / "snippets").rglob("*.py")):
        if snippet.name.startswith("_"):
            continue
        with tempfile.TemporaryDirectory() as tmp:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run([sys.executable, str(snippet)], cwd=tmp, check=True, capture_output=True,
                           env={**ENV, "GENAI_GUIDE_FIGURES": tmp, "PYTHONHASHSEED": "0", "MPLBACKEND": "Agg"})
            wall = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        rows.append((wall, cpu, snippet.relative_to(ROOT).as_posix()))
    return sorted(rows, reverse=True)


def timed_row(figure: str, seconds: float, budget_s: float, reference: float) -> tuple[str, str, str, bool]:
    """A time next to its budget in seconds, and as a multiple of the reference."""
    return figure, f"{seconds:.1f} s = {seconds / reference:.1f} ref", f"< {budget_s:.0f} s", seconds < budget_s


def build_seconds(site: Path, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(site)],
                       cwd=ROOT, env=ENV, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def rebuild_seconds(port: int = 8765) -> float:
    """Time from saving a page to mkdocs serve's "Reloading browsers", as a writer experiences it."""
    proc = subprocess.Popen([sys.executable, "-m", "mkdocs", "serve", "--dev-addr", f"127.0.0.1:{port}", "--livereload"],
                            cwd=ROOT, env=SERVE_ENV, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    page = ROOT / "docs/index.md"
    original = page.read_text(encoding="utf-8")
    lines: list[str] = []
    threading.Thread(target=lambda: [lines.append(line) for line in proc.stderr], daemon=True).start()
    try:
        deadline = time.time() + 120
        while not any("Serving on" in line for line in lines):
            if time.time() > deadline or proc.poll() is not None:
                raise RuntimeError("mkdocs serve did not start:\n" + "".join(lines[-20:]))
            time.sleep(0.1)
        time.sleep(1.0)
        seen = len(lines)
        start = time.perf_counter()
        page.write_text(original + "\n", encoding="utf-8")
        while not any("Reloading browsers" in line for line in lines[seen:]):
            if time.perf_counter() - start > 60:
                raise RuntimeError("no rebuild within 60 s")
            time.sleep(0.02)
        return time.perf_counter() - start
    finally:
        page.write_text(original, encoding="utf-8")
        proc.terminate()
        proc.wait(timeout=30)


def test_seconds() -> float:
    start = time.perf_counter()
    subprocess.run(["make", "test"], cwd=ROOT, env=ENV, check=True, capture_output=True)
    return time.perf_counter() - start


def serve(site: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    """Serve the site on loopback, gzipping text as static hosts such as GitHub Pages do."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def send_head(self):
            path = Path(self.translate_path(self.path))
            if path.is_dir():
                path = path / "index.html"
            text = path.suffix in (".html", ".css", ".js", ".json", ".svg", ".xml")
            if not (text and path.is_file() and "gzip" in self.headers.get("Accept-Encoding", "")):
                return super().send_head()
            body = gzip.compress(path.read_bytes(), 6)
            self.send_response(200)
            self.send_header("Content-Type", self.guess_type(str(path)))
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            return io.BytesIO(body)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(site)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}/"


def page_weight(url: str, site: Path) -> tuple[int, int, int, int]:
    """What the page loads: (uncompressed bytes, gzip-transferred bytes) of the page itself before the
    math and diagram assets; uncompressed bytes of everything; and the site-wide search index, which
    the search worker fetches once and every page shares (reported apart, not hidden)."""
    from playwright.sync_api import sync_playwright

    sizes: dict[str, int] = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROME_FLAGS.replace("--headless=new ", "").split())
        page = browser.new_page()
        page.on("requestfinished", lambda r: sizes.__setitem__(r.url, r.sizes()["responseBodySize"]))
        page.goto(url, wait_until="networkidle")
        page.wait_for_timeout(1000)
        browser.close()
    def on_disk(u: str) -> int:
        path = site / urlsplit(u).path.lstrip("/")
        return path.stat().st_size if path.is_file() else sizes[u]

    eager = [u for u in sizes if not any(a in u for a in LAZY_ASSETS) and SEARCH_INDEX not in u]
    index = sum(on_disk(u) for u in sizes if SEARCH_INDEX in u)
    return sum(on_disk(u) for u in eager), sum(sizes[u] for u in eager), sum(on_disk(u) for u in sizes), index


def lighthouse(url: str, preset: str) -> dict[str, int]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.json"
        args = ["npx", "--yes", LIGHTHOUSE, url, f"--chrome-path={CHROMIUM}",
                f"--chrome-flags={CHROME_FLAGS} --user-data-dir={tmp}/profile", "--output=json",
                f"--output-path={out}", "--only-categories=performance,accessibility,best-practices,seo", "--quiet"]
        if preset == "desktop":
            args.append("--preset=desktop")
        subprocess.run(args, check=True, capture_output=True, env=ENV)
        report = json.loads(out.read_text(encoding="utf-8"))
    return {k: round(v["score"] * 100) for k, v in report["categories"].items()}


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Measure the book's budgets.")
    parser.add_argument("--only", choices=["snippets", "build", "pages", "rebuild", "test"], action="append",
                        help="measure only these parts (repeatable); default: all")
    parts = set(parser.parse_args(argv).only or ["snippets", "build", "pages", "rebuild", "test"])
    if CHROMIUM is None and "pages" in parts:
        print("make bench needs Debian's chromium (apt-get install chromium)", file=sys.stderr)
        return 2
    reference = reference_seconds()
    rows: list[tuple[str, str, str, bool | None]] = [
        ("reference: cold import torch, transformers (median of 3)", f"{reference:.2f} s", "(the unit)", None)]
    if "snippets" in parts:
        timings = snippet_seconds()
        over = [name for wall, _, name in timings if wall >= BUDGETS_S["snippet"]]
        for wall, cpu, name in timings[:10]:
            rows.append(timed_row(f"snippet {name} ({cpu:.1f} CPU s)", wall, BUDGETS_S["snippet"], reference))
        rows.append(("snippets over budget", f"{len(over)} of {len(timings)}", "0", not over))
        rows.append(("all snippets, one after another", f"{sum(w for w, _, _ in timings):.0f} s", "(info)", None))
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / "site"
        if parts & {"build", "pages"}:
            seconds = build_seconds(site)
            rows.append(timed_row("mkdocs build --strict (median of 3)", seconds, BUDGETS_S["build"], reference))
        if "pages" in parts:
            httpd, base = serve(site)
            try:
                before, transferred, total, index = page_weight(base + PAGES["chapter"], site)
                rows.append(("chapter page weight before math/diagrams", f"{before / 1e6:.2f} MB", "< 1 MB", before < 1e6))
                rows.append(("  the same, gzip-transferred", f"{transferred / 1e6:.2f} MB", "(info)", None))
                rows.append(("site search index (shared, loaded by the worker)", f"{index / 1e6:.2f} MB", "(info)", None))
                rows.append(("everything, math, diagrams and index included", f"{total / 1e6:.2f} MB", "(info)", None))
                for name, page in PAGES.items():
                    for preset in ("desktop", "mobile"):
                        scores = lighthouse(base + page, preset)
                        for category, score in scores.items():
                            budget = 90 if category == "seo" else 95
                            ok = score >= budget if preset == "desktop" else None
                            rows.append((f"Lighthouse {preset} {name}: {category}", str(score),
                                         f">= {budget}" if preset == "desktop" else "(info)", ok))
            finally:
                httpd.shutdown()
    if "rebuild" in parts:
        rows.append(timed_row("incremental rebuild under mkdocs serve", rebuild_seconds(), BUDGETS_S["rebuild"], reference))
    if "test" in parts:
        rows.append(timed_row("make test (full suite, 2 cores)", test_seconds(), BUDGETS_S["test"], reference))

    width = max(len(r[0]) for r in rows)
    print(f"{'figure':<{width}}  {'measured':>18}  {'budget':>8}  verdict")
    for figure, measured, budget, ok in rows:
        verdict = "" if ok is None else ("ok" if ok else "OVER BUDGET")
        print(f"{figure:<{width}}  {measured:>18}  {budget:>8}  {verdict}")
    (ROOT / "bench").mkdir(exist_ok=True)
    (ROOT / "bench/results.json").write_text(json.dumps(
        [{"figure": f, "measured": m, "budget": b, "ok": ok} for f, m, b, ok in rows], indent=1), encoding="utf-8")
    return 0 if all(ok is not False for *_, ok in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
