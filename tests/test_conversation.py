"""genai_guide.conversation: trim_history against langchain_core's trim_messages on random conversations and
settings, the condense-question prompt, the rule-based rewriter, the session loop, and clear errors on bad input."""

from __future__ import annotations

import doctest
import random

import pytest
from langchain_core.messages import BaseMessage, convert_to_messages, trim_messages

from genai_guide import conversation
from genai_guide.conversation import (
    CONDENSE_QUESTION_TEMPLATE,
    ConversationalRAG,
    condense_question_prompt,
    extractive_answer,
    rewrite_question,
    trim_history,
)

LC_TYPE = {"system": "system", "user": "human", "assistant": "ai"}
ROLE_OF = {v: k for k, v in LC_TYPE.items()}
WORDS = ["the", "lamp", "turns", "every", "twelve", "seconds", "and", "keeper", "lights", "it", "at", "dusk\nwhile",
         "boats", "sail", "home", ""]


def test_doctests():
    assert doctest.testmod(conversation, raise_on_error=True).attempted > 0


def _random_conversation(rng: random.Random) -> list[dict[str, str]]:
    n = rng.randint(0, 9)
    msgs = []
    if rng.random() < 0.5:
        msgs.append({"role": "system", "content": " ".join(rng.choices(WORDS, k=rng.randint(0, 12)))})
    for _ in range(n):
        role = rng.choice(["user", "assistant", "user", "assistant", "system"])
        msgs.append({"role": role, "content": " ".join(rng.choices(WORDS, k=rng.randint(0, 15)))})
    return msgs


def _tokenizer():
    """A real `tokenizers` tokenizer: a BPE trained on the fly on the words of the random messages."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator([" ".join(WORDS)] * 4, trainers.BpeTrainer(vocab_size=60, special_tokens=["[UNK]"]))
    return tok


def _counters():
    """Per-message token counters: words + role overhead, characters, words alone, a rough subword count, and
    a real tokenizer plus ChatML-like role markers."""
    tok = _tokenizer()
    return [
        lambda m: len(m["content"].split()) + 4,
        lambda m: len(m["content"]),
        lambda m: len(m["content"].split()),  # 0 for an empty message
        lambda m: sum(1 + len(w) // 4 for w in m["content"].split()) + 3,
        lambda m: len(tok.encode(m["content"]).ids) + 4,
    ]


def _to_lc_roles(roles):
    if roles is None:
        return None
    return LC_TYPE[roles] if isinstance(roles, str) else [LC_TYPE[r] for r in roles]


@pytest.mark.parametrize("counter_index", range(5))
def test_trim_history_equals_langchain_trim_messages(counter_index):
    rng = random.Random(counter_index)
    count = _counters()[counter_index]

    def lc_counter(messages: list[BaseMessage]) -> int:
        return sum(count({"role": ROLE_OF[m.type], "content": m.content}) for m in messages)

    role_options = [None, "user", "assistant", "system", ["user", "system"], ["assistant", "user"]]
    compared = nonempty = 0
    for _ in range(400):
        msgs = _random_conversation(rng)
        strategy = rng.choice(["last", "last", "first"])
        kwargs = {"end_on": rng.choice(role_options)}
        if strategy == "last":
            kwargs["start_on"] = rng.choice(role_options)
            kwargs["include_system"] = rng.random() < 0.5
        budget = rng.randint(1, 80)
        ours = trim_history(msgs, budget, count, strategy=strategy, **kwargs)
        lc_kwargs = {k: (_to_lc_roles(v) if k != "include_system" else v) for k, v in kwargs.items()}
        theirs = trim_messages(convert_to_messages(msgs), max_tokens=budget, token_counter=lc_counter,
                               strategy=strategy, allow_partial=False, **lc_kwargs)
        assert [{"role": ROLE_OF[m.type], "content": m.content} for m in theirs] == ours, (msgs, budget, strategy,
                                                                                          kwargs)
        compared += 1
        nonempty += 0 < len(ours) < len(msgs)
    assert compared == 400 and nonempty > 50  # many cases actually trim


def test_trim_history_budget_holds_and_keeps_newest():
    rng = random.Random(7)
    count = _counters()[0]
    for _ in range(200):
        msgs = [m for m in _random_conversation(rng) if m["role"] != "system"]
        budget = rng.randint(1, 60)
        kept = trim_history(msgs, budget, count)
        assert sum(count(m) for m in kept) <= budget
        assert kept == msgs[len(msgs) - len(kept):]  # a suffix: the newest messages
        if len(kept) < len(msgs):  # the next older one would not have fit
            assert sum(count(m) for m in msgs[len(msgs) - len(kept) - 1:]) > budget


def test_trim_history_keeps_an_overlong_system_message():
    msgs = [{"role": "system", "content": "a b c d e f g h"}, {"role": "user", "content": "hi"}]
    count = _counters()[2]
    assert trim_history(msgs, 3, count, include_system=True) == [msgs[0]]
    assert trim_history(msgs, 3, count) == [msgs[1]]
    assert trim_history([], 5, count) == []


def test_trim_history_rejects_bad_input():
    ok = [{"role": "user", "content": "hi"}]
    count = _counters()[0]
    with pytest.raises(ValueError, match="messages\\[0\\] has unknown role 'human'"):
        trim_history([{"role": "human", "content": "hi"}], 5, count)
    with pytest.raises(ValueError, match="max_tokens"):
        trim_history(ok, 0, count)
    with pytest.raises(TypeError, match="max_tokens"):
        trim_history(ok, 2.5, count)
    with pytest.raises(ValueError, match="strategy"):
        trim_history(ok, 5, count, strategy="middle")
    with pytest.raises(ValueError, match="start_on"):
        trim_history(ok, 5, count, strategy="first", start_on="user")
    with pytest.raises(ValueError, match="include_system"):
        trim_history(ok, 5, count, strategy="first", include_system=True)
    with pytest.raises(ValueError, match="end_on has unknown role"):
        trim_history(ok, 5, count, end_on="human")
    with pytest.raises(TypeError, match="messages"):
        trim_history("hi", 5, count)
    with pytest.raises(TypeError, match="messages\\[0\\]\\['content'\\]"):
        trim_history([{"role": "user", "content": 3}], 5, count)
    with pytest.raises(TypeError, match="token_counter must return an int"):
        trim_history(ok, 5, lambda m: 1.5)
    with pytest.raises(ValueError, match="token_counter must return a count >= 0"):
        trim_history(ok, 5, lambda m: -1)


def test_condense_question_prompt():
    history = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "When does the bakery open?"},
               {"role": "assistant", "content": "At five."}]
    prompt = condense_question_prompt(history, "And when does it close?")
    assert prompt == CONDENSE_QUESTION_TEMPLATE.format(
        chat_history="User: When does the bakery open?\nAssistant: At five.", question="And when does it close?")
    assert prompt.endswith("Follow Up Input: And when does it close?\nStandalone question:")
    with pytest.raises(ValueError, match="question"):
        condense_question_prompt(history, "  ")
    with pytest.raises(ValueError, match="template"):
        condense_question_prompt(history, "Why?", template="{question}")


def test_rewrite_question_rules():
    ents = ["bakery", "fish auction", "Morning Star", "ferry"]
    h = [{"role": "user", "content": "When does the bakery open?"},
         {"role": "assistant", "content": "The bakery on Quay Street opens at five. [1]"}]
    assert rewrite_question("And when does it close?", h, ents) == "When does the bakery close?"
    assert rewrite_question("What is its oldest loaf?", h, ents) == "What is the bakery's oldest loaf?"
    assert rewrite_question("What about the fish auction?", h, ents) == "When does the fish auction open?"
    assert rewrite_question("Where is the ferry?", h, ents) == "Where is the ferry?"  # no pronoun
    assert rewrite_question("and is it open?", [], ents) == "Is it open?"  # no history: nothing to resolve
    # the newest message with an entity wins, and in it the entity named first
    h2 = [*h, {"role": "user", "content": "Which boat is older, the Morning Star or the ferry?"}]
    assert rewrite_question("When was it built?", h2, ents) == "When was the Morning Star built?"
    with pytest.raises(ValueError, match="history\\[0\\] has unknown role"):
        rewrite_question("Why?", [{"role": "bot", "content": "x"}], ents)
    with pytest.raises(ValueError, match="entities"):
        rewrite_question("Why?", h, [])
    with pytest.raises(ValueError, match="question"):
        rewrite_question("", h, ents)


def test_session_loop_trims_and_numbers_sources():
    passages = ["The bakery opens at five. It sells rye.", "The ferry sails at seven.", "The school is on the hill."]

    def retrieve(q: str) -> list[str]:
        words = set(q.lower().replace("?", "").split())
        return sorted(passages, key=lambda p: -len(words & set(p.lower().rstrip(".").split())))[:2]

    def count(t: str) -> int:
        return len(t.split())

    rag = ConversationalRAG(retrieve=retrieve, count_tokens=count,
                            rewrite=lambda q, h: rewrite_question(q, h, ["bakery", "ferry", "school"]),
                            history_budget=20, context_budget=12)
    first = rag.ask("When does the bakery open?")
    assert first.answer == "The bakery opens at five. [1]" and first.history_tokens == 0
    second = rag.ask("And what does it sell?")
    assert second.standalone == "What does the bakery sell?"
    assert second.sources[0] == passages[0] and "[1] The bakery opens" in second.messages[-1]["content"]
    assert second.messages[-1]["content"].endswith("Question: And what does it sell?\nAnswer:")
    for q in ["Where is the school?", "When does the ferry sail?", "Is it late?"]:
        turn = rag.ask(q)
        assert turn.history_tokens <= 20 and sum(count(s) for s in turn.sources) <= 12
        assert turn.messages[0]["role"] == "system" and turn.messages[1]["role"] == "user"
    assert turn.standalone == "Is the ferry late?"
    assert len(rag.history) == 10
    with pytest.raises(ValueError, match="history_budget"):
        ConversationalRAG(retrieve=retrieve, count_tokens=count, rewrite=lambda q, h: q, history_budget=0)
    with pytest.raises(ValueError, match="question"):
        rag.ask(" ")
    assert extractive_answer([]) == "I do not know."
    two = ["The bakery opens at five. The baker sells rye loaves.", "The ferry sails."]
    assert extractive_answer(two) == "The bakery opens at five. [1]"
    assert extractive_answer(two, "What does the bakery sell?") == "The baker sells rye loaves. [1]"
