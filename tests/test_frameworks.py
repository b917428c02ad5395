"""The frameworks chapter: the AutoGen transcript the page shows (run in a separate environment, since
autogen-core pins protobuf 5) is the one its tested plain-Python twin prints, and the AutoGen block
still builds the conversation it claims to."""

from __future__ import annotations

import re

from markdown_it import MarkdownIt

from conftest import ROOT

PAGE = ROOT / "docs" / "retrieval" / "frameworks.md"
GOLDEN = ROOT / "snippets" / "retrieval" / "frameworks_agents.out"


def fences(title_start: str) -> list[str]:
    tokens = MarkdownIt("commonmark").parse(PAGE.read_text(encoding="utf-8"))
    return [t.content for t in tokens if t.type == "fence" and f'title="{title_start}' in t.info]


def test_autogen_transcript_equals_the_plain_python_twin():
    (printed,) = fences("What it printed (AutoGen")
    transcript = printed.splitlines()
    golden = GOLDEN.read_text(encoding="utf-8").splitlines()
    assert transcript == golden[:len(transcript)], "the page's AutoGen transcript and frameworks_agents.out differ"
    assert transcript[-1] == "stop: Text 'APPROVE' mentioned"


def test_autogen_block_uses_the_same_replies_and_stop_conditions():
    (block,) = [b for b in fences("Needs network: pip install autogen") if "RoundRobinGroupChat" in b]
    printed = fences("What it printed (AutoGen")[0]
    replies = re.findall(r'^\s+"(.*)",$', block, flags=re.MULTILINE)
    assert len(replies) == 4  # two for the writer, two for the critic
    for reply in replies:  # each replayed reply is in the transcript
        assert f"| {reply}" in printed, reply
    assert 'TextMentionTermination("APPROVE") | MaxMessageTermination(6)' in block
    plain = (ROOT / "snippets" / "retrieval" / "frameworks_agents.py").read_text(encoding="utf-8")
    assert 'stop_text: str = "APPROVE", max_messages: int = 6' in plain  # the twin's defaults match
