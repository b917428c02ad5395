"""The "tested with" table: written once in README.md, shown in the site footer, checked by tests."""

from __future__ import annotations

import re
from importlib import metadata

from bookkit import ROOT

START, END = "<!-- tested-with:start -->", "<!-- tested-with:end -->"
ROW = re.compile(r"^\|\s*`?([A-Za-z0-9_.\-\[\]]+)`?\s*\|\s*`?([0-9][^|`\s]*)`?\s*\|", re.M)


def readme_versions(readme: str | None = None) -> dict[str, str]:
    """Package -> version from the README's tested-with table (Python is listed as 'python')."""
    text = (ROOT / "README.md").read_text(encoding="utf-8") if readme is None else readme
    if START not in text or END not in text:
        raise ValueError(f"README.md has no tested-with table between {START} and {END}")
    table = text.split(START, 1)[1].split(END, 1)[0]
    rows = dict(ROW.findall(table))
    if not rows:
        raise ValueError("README.md tested-with table has no rows")
    return rows


def installed_version(name: str) -> str:
    if name.lower() == "python":
        import platform

        return platform.python_version()
    version = metadata.version(name)
    return version.split("+")[0]  # 2.13.0+cpu -> 2.13.0
