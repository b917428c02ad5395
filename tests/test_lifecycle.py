"""The pipeline task names that docs/shipping/lifecycle.md gives, against the installed transformers.

The chapter's use-case table names a `transformers.pipeline` task for each use case, some as aliases
and some as removed in transformers 5. Every name must be what the installed version says it is, so
that an upgrade which adds, renames or removes a task fails here instead of leaving the page wrong.
"""

from __future__ import annotations

import re

import pytest
from transformers.pipelines import REMOVED_TASKS, SUPPORTED_TASKS, TASK_ALIASES, check_task

from conftest import ROOT

PAGE = ROOT / "docs" / "shipping" / "lifecycle.md"
TASK = re.compile(r'`"([a-z0-9_-]+)"`')


def use_case_rows() -> dict[str, str]:
    """The use-case table: each use case's pipeline cell, by use case."""
    section = PAGE.read_text(encoding="utf-8").split("## Use cases, model families and pipelines", 1)[1]
    rows = [line.split(" | ") for line in section.split("\n\n| use case |", 1)[1].split("\n\n", 1)[0].splitlines()]
    return {cells[0].strip("| "): cells[2] for cells in rows[2:]}


def test_the_table_lists_the_eight_use_cases():
    names = [re.sub(r"\[(.*?)\]\(.*?\)", r"\1", name) for name in use_case_rows()]
    assert names == ["chatbot", "summarization", "translation", "named entity recognition", "code generation",
                     "classification, sentiment", "question answering", "RAG"]


@pytest.mark.parametrize(("use_case", "cell"), list(use_case_rows().items()))
def test_each_pipeline_task_is_what_transformers_says(use_case: str, cell: str):
    """A name followed by "removed" must be a removed task; every other name a task or an alias."""
    names = TASK.findall(cell)
    assert names, f"{use_case}: no pipeline task named"
    for name in names:
        after = cell.split(f'`"{name}"`', 1)[1]
        if after.startswith(" removed"):
            with pytest.raises(KeyError, match="has been removed"):
                check_task(name)
        else:
            task = check_task(name)[0]  # resolves an alias; raises KeyError for an unknown or removed task
            assert task in SUPPORTED_TASKS, f"{use_case}: {name}"


def test_aliases_the_table_gives_are_transformers_aliases():
    aliases = dict(re.findall(r'`"([a-z-]+)"` \(alias `"([a-z-]+)"`\)', "".join(use_case_rows().values())))
    assert aliases == {"token-classification": "ner", "text-classification": "sentiment-analysis"}
    assert all(TASK_ALIASES[alias] == task for task, alias in aliases.items())


def test_the_removed_tasks_the_page_names_are_the_removed_text_tasks():
    text = " ".join(PAGE.read_text(encoding="utf-8").split())
    sentence = re.search(r"Transformers 5 removed the (.*?) pipelines", text)[1]
    named = set(TASK.findall(sentence))
    assert named == {"summarization", "translation", "text2text-generation", "question-answering"}
    assert named <= set(REMOVED_TASKS)
    assert set(REMOVED_TASKS) - named == {"visual-question-answering", "vqa", "image-to-image"}  # not text tasks
    for name in named:
        with pytest.raises(KeyError, match="has been removed"):
            check_task(name)
