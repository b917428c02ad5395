"""The README's tested-with table agrees with what is installed and with constraints.txt."""

from __future__ import annotations

import pytest

from bookkit.versions import installed_version, readme_versions
from conftest import ROOT


def test_readme_table_matches_installed_versions():
    table = readme_versions()
    for name in ("python", "torch", "transformers", "mkdocs", "mkdocs-material", "pytest"):
        assert name in table, f"README tested-with table lacks {name}"
    wrong = {name: (version, installed_version(name)) for name, version in table.items()
             if installed_version(name) != version}
    assert not wrong, f"README says {{name: (README, installed)}}: {wrong}; update the table or run `make setup`"


def test_readme_table_matches_constraints():
    pins = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        if "==" in line:
            name, version = line.split("==")
            pins[name.lower().replace("_", "-")] = version.strip()  # PEP 503: rouge_score is rouge-score
    for name, version in readme_versions().items():
        if name != "python":
            pin = pins.get(name.lower().replace("_", "-"))
            assert pin == version, f"{name}: README {version}, constraints.txt {pin}"


def test_table_parser_rejects_a_missing_table():
    with pytest.raises(ValueError, match="tested-with"):
        readme_versions("# no table here")
