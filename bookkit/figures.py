"""Compare figures on what they show, not on float noise in their SVG text.

matplotlib writes SVG coordinates with six decimals and names clip paths and markers by a hash of
their content, so the same picture drawn on another CPU (a last-bit difference in a float32 sum)
has other bytes. Two SVGs show the same picture when their text is equal outside numbers, numbers
agree within `tolerance` user units (points; 0.001 pt is far below what a screen shows, and float noise is about 1e-6), and the
generated ids correspond one to one.
"""

from __future__ import annotations

import re
from pathlib import Path

from bookkit import ROOT

NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
GENERATED_ID = re.compile(r"\b[mp][0-9a-f]{10}\b")  # matplotlib's hashed ids of markers and clip paths


def _canonical(svg: str) -> tuple[list[str], list[float]]:
    ids: dict[str, str] = {}
    svg = GENERATED_ID.sub(lambda m: ids.setdefault(m[0], f"id{len(ids)}"), svg)
    numbers = [float(n) for n in NUMBER.findall(svg)]
    return NUMBER.split(svg), numbers


def same_picture(a: str, b: str, tolerance: float = 1e-3) -> bool:
    """True when the SVG texts `a` and `b` draw the same picture (see the module docstring)."""
    text_a, numbers_a = _canonical(a)
    text_b, numbers_b = _canonical(b)
    return text_a == text_b and len(numbers_a) == len(numbers_b) and all(
        abs(x - y) <= tolerance for x, y in zip(numbers_a, numbers_b, strict=True))


def same_figure(made: Path, shown: Path) -> bool:
    """Figures are equal byte for byte, or, for SVG, show the same picture."""
    if made.read_bytes() == shown.read_bytes():
        return True
    return made.suffix == ".svg" and same_picture(made.read_text(encoding="utf-8"), shown.read_text(encoding="utf-8"))


def check_figures(made_dir: Path, part: str, who: str) -> None:
    """Every figure `who` drew into `made_dir` is one the pages of `docs/<part>/` show: same picture."""
    figures = ROOT / "docs" / part / "figures"
    for made in sorted(made_dir.iterdir()):
        shown = figures / made.name
        where = shown.relative_to(ROOT).as_posix()
        assert shown.is_file(), f"{who} drew {made.name}, which is not in {where}: run `make golden`"
        assert same_figure(made, shown), f"{where} is stale (not what {who} draws): run `make golden`"
