"""genai_guide.constrained: the pattern compiler against the `regex` module (full and partial matches),
the token index and logits processor never allowing a token that leaves the language (property tests
over random logits), generated JSON always validating with pydantic, the retry loop, the grounding
check, and truncation equal to Hugging Face tokenizers' own."""

from __future__ import annotations

import random
from typing import Literal

import pytest
import regex
import torch
import transformers
from pydantic import BaseModel, Field

from genai_guide.chat_formats import tiny_chat_tokenizer
from genai_guide.constrained import (
    SAFE_CHARS,
    FSMLogitsProcessor,
    StructuredOutputError,
    TokenIndex,
    alt,
    chars,
    check_grounding,
    choice,
    compile_pattern,
    fit_chat,
    generate_validated,
    json_pattern,
    lit,
    repeat,
    seq,
    truncate_ids,
    truncate_middle,
    truncate_pair,
)

transformers.logging.set_verbosity_error()


# ----------------------------------------------------------------------------- patterns and the FSM

def random_pattern(rng: random.Random, depth: int = 0):
    kind = rng.choice(["lit", "chars", "seq", "alt", "repeat"] if depth < 3 else ["lit", "chars"])
    if kind == "lit":
        return lit("".join(rng.choice("abc") for _ in range(rng.randint(1, 3))))
    if kind == "chars":
        return chars(rng.sample("abc", rng.randint(1, 3)))
    if kind == "seq":
        return seq(*(random_pattern(rng, depth + 1) for _ in range(rng.randint(1, 3))))
    if kind == "alt":
        return alt(*(random_pattern(rng, depth + 1) for _ in range(rng.randint(1, 3))))
    low = rng.randint(0, 2)
    return repeat(random_pattern(rng, depth + 1), low, rng.choice([None, max(low, 1), low + 2]))


@pytest.mark.parametrize("seed", range(60))
def test_fsm_equals_regex_full_and_partial_match(seed):
    rng = random.Random(seed)
    pattern = random_pattern(rng)
    fsm, rx = compile_pattern(pattern), regex.compile(pattern.to_regex())
    for _ in range(150):
        text = "".join(rng.choice("abcd") for _ in range(rng.randint(0, 8)))
        assert fsm.accepts(text) == bool(rx.fullmatch(text)), (pattern.to_regex(), text)
        viable = fsm.walk(0, text) is not None  # can still be completed
        assert viable == bool(rx.fullmatch(text, partial=True)), (pattern.to_regex(), text)


def test_max_length():
    assert compile_pattern(choice(["a", "abc", "ab"])).max_length() == 3
    assert compile_pattern(seq(lit("x"), repeat(chars("ab"), 1, 4))).max_length() == 5
    assert compile_pattern(repeat(lit("a"))).max_length() is None


# ----------------------------------------------------------------------------- the JSON schema

class Ticket(BaseModel):
    priority: Literal["low", "medium", "high"]
    hours: int = Field(ge=0, le=999)
    urgent: bool
    summary: str = Field(min_length=1, max_length=8)


class Wrapper(BaseModel):
    ticket: Ticket
    team: Literal["north", "south"]


def random_ticket(rng: random.Random) -> Ticket:
    return Ticket(priority=rng.choice(["low", "medium", "high"]), hours=rng.choice([0, 7, 10, 99, 100, 999,
                  rng.randint(0, 999)]), urgent=rng.random() < 0.5,
                  summary="".join(rng.choice(SAFE_CHARS) for _ in range(rng.randint(1, 8))))


@pytest.mark.parametrize("seed", range(10))
def test_json_pattern_accepts_every_serialized_instance(seed):
    rng = random.Random(seed)
    fsm = compile_pattern(json_pattern(Wrapper))
    for _ in range(50):
        text = Wrapper(ticket=random_ticket(rng), team=rng.choice(["north", "south"])).model_dump_json()
        assert fsm.accepts(text), text


@pytest.mark.parametrize("text", [
    '{"priority":"urgent","hours":1,"urgent":true,"summary":"x"}',  # not a listed value
    '{"priority":"low","hours":1000,"urgent":true,"summary":"x"}',  # above le
    '{"priority":"low","hours":07,"urgent":true,"summary":"x"}',  # leading zero: not JSON
    '{"priority":"low","hours":1,"urgent":true,"summary":""}',  # below min_length
    '{"priority":"low","hours":1,"urgent":True,"summary":"x"}',  # Python, not JSON
    '{"hours":1,"priority":"low","urgent":true,"summary":"x"}',  # field order
])
def test_json_pattern_rejects_invalid(text):
    assert not compile_pattern(json_pattern(Ticket)).accepts(text)


# ----------------------------------------------------------------------------- tokens and logits

VOCAB = [None] + list('{}":,. -') + list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") + [
    '{"', '":', '","', '":"', '"}', "true", "false", "priority", "hours", "urgent", "summary", "high", "low",
    "medium", "lamp", " the", "99", '"x', "[PAD]"]
VOCAB[-1] = None  # a second special token, never allowed
EOS = 0


@pytest.fixture(scope="module")
def ticket_index() -> TokenIndex:
    return TokenIndex(compile_pattern(json_pattern(Ticket)), VOCAB, EOS)


def random_constrained_walk(index: TokenIndex, rng: random.Random, stop_early: float = 0.0) -> list[int]:
    ids: list[int] = []
    while True:
        state = index.walk_ids(ids)
        if state is None or rng.random() < stop_early:
            return ids
        ids.append(rng.choice(index.allowed(state)))


@pytest.mark.parametrize("seed", range(10))
def test_allowed_tokens_equal_regex_partial_matches(ticket_index, seed):
    rng = random.Random(seed)
    rx = regex.compile(json_pattern(Ticket).to_regex())
    for _ in range(8):
        prefix_ids = random_constrained_walk(ticket_index, rng, stop_early=0.05)
        if prefix_ids and prefix_ids[-1] == EOS:
            prefix_ids.pop()
        prefix = ticket_index.decode(prefix_ids)
        expected = {t for t, text in enumerate(VOCAB) if text and rx.fullmatch(prefix + text, partial=True)}
        if rx.fullmatch(prefix):
            expected.add(EOS)
        assert set(ticket_index.allowed(ticket_index.walk_ids(prefix_ids))) == expected, prefix


@pytest.mark.parametrize("seed", range(20))
def test_processor_never_allows_an_invalid_token(ticket_index, seed):
    """Random logits, random prefixes: only allowed tokens stay finite, and they keep their scores."""
    gen = torch.Generator().manual_seed(seed)
    rng = random.Random(seed)
    length = rng.randint(0, 40)  # generate() keeps rows equally long: finished rows are padded with EOS
    prefixes = [(random_constrained_walk(ticket_index, rng) + [EOS] * length)[:length] for _ in range(4)]
    input_ids = torch.tensor([[EOS, 5, 6] + p for p in prefixes])  # 3 prompt tokens, not constrained
    scores = torch.randn(4, len(VOCAB) + 3, generator=gen) * 5  # a model may have a few extra columns
    out = FSMLogitsProcessor(ticket_index, prompt_length=3)(input_ids, scores.clone())
    for row, prefix in enumerate(prefixes):
        state = ticket_index.walk_ids(prefix)
        allowed = {EOS} if state is None else set(ticket_index.allowed(state))
        finite = set(torch.isfinite(out[row]).nonzero().flatten().tolist())
        assert finite == allowed
        assert torch.equal(out[row, sorted(allowed)], scores[row, sorted(allowed)])
        assert int(out[row].argmax()) in allowed


@pytest.mark.parametrize("seed", range(30))
def test_sampling_through_the_processor_always_validates(ticket_index, seed):
    """Sample from random logits through the processor until EOS: the text parses and validates."""
    gen = torch.Generator().manual_seed(seed)
    processor = FSMLogitsProcessor(ticket_index, prompt_length=1)
    ids = torch.tensor([[EOS]])
    for _ in range(200):
        scores = processor(ids, torch.randn(1, len(VOCAB), generator=gen) * 3)
        nxt = torch.multinomial(torch.softmax(scores, -1), 1, generator=gen)
        ids = torch.cat([ids, nxt], dim=1)
        if int(nxt) == EOS:
            break
    text = ticket_index.decode(ids[0, 1:-1].tolist())
    assert int(ids[0, -1]) == EOS
    assert Ticket.model_validate_json(text) is not None


def test_generate_with_a_random_gpt2_always_validates(ticket_index):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: extra threads only slow it down on a busy CPU
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=len(VOCAB), n_positions=128, n_embd=32, n_layer=1, n_head=2,
                                     bos_token_id=EOS, eos_token_id=EOS, pad_token_id=EOS)
    model = transformers.GPT2LMHeadModel(config).eval()
    prompt = torch.tensor([[EOS, 5]])
    processor = FSMLogitsProcessor(ticket_index, prompt_length=prompt.shape[1])
    max_new = ticket_index.fsm.max_length() + 1  # every character could be its own token, then EOS
    free = model.generate(prompt, max_new_tokens=30, do_sample=False)
    assert not ticket_index.fsm.accepts(ticket_index.decode(free[0, 2:].tolist()))
    out = model.generate(prompt, max_new_tokens=max_new, do_sample=True, num_return_sequences=8,
                         logits_processor=transformers.LogitsProcessorList([processor]))
    for row in out.tolist():
        generated = row[2:]
        assert EOS in generated
        assert Ticket.model_validate_json(ticket_index.decode(generated[:generated.index(EOS)]))
    torch.set_num_threads(threads)


def test_choice_list_with_shared_prefixes():
    vocab = [None, "pos", "neg", "itive", "ative", "neutral", "n", "e", "g", "x"]
    index = TokenIndex(compile_pattern(choice(["positive", "negative", "neutral", "neg"])), vocab, 0)
    assert index.allowed(0) == [1, 2, 5, 6]
    after_neg = index.walk_ids([2])
    assert index.allowed(after_neg) == [0, 4]  # "neg" is complete (EOS) or continues with "ative"


# ----------------------------------------------------------------------------- retries

def scripted(outputs: list[str]):
    prompts: list[str] = []

    def generate(prompt: str) -> str:
        prompts.append(prompt)
        return outputs[len(prompts) - 1]

    return generate, prompts


def test_retry_until_valid():
    good = '{"priority":"low","hours":3,"urgent":false,"summary":"ok"}'
    generate, prompts = scripted(['{"priority":"urgent"}', "```json\n" + good + "\n```"])
    ticket, attempts = generate_validated(generate, Ticket, "Make a ticket.")
    assert ticket == Ticket.model_validate_json(good)
    assert len(attempts) == 2 and attempts[0].errors and not attempts[1].errors
    assert "priority: Input should be 'low', 'medium' or 'high'" in prompts[1]
    assert "hours: Field required" in prompts[1] and prompts[1].startswith("Make a ticket.")


def test_retry_gives_up():
    generate, prompts = scripted(["not json"] * 5)
    with pytest.raises(StructuredOutputError, match="after 2 attempts") as info:
        generate_validated(generate, Ticket, "Make a ticket.", max_attempts=2)
    assert len(info.value.attempts) == 2 and len(prompts) == 2


# ----------------------------------------------------------------------------- grounding

DOCS = ["The lighthouse was built in 1887. Its lamp burns paraffin.",
        "Keepers left in 1964, when the light was automated.\nVisitors may climb it in summer."]


@pytest.mark.parametrize("answer,citations,problems", [
    ("It was built in 1887.", [(0, "The lighthouse was built in 1887.")], []),
    ("Automated in 1964.", [(1, "keepers left in 1964,   when the LIGHT was automated.")], []),  # case, spaces
    ("It was built in 1888.", [(0, "The lighthouse was built in 1887.")], ["number 1888"]),
    ("It was built in 1887.", [(0, "The lighthouse was built in 1887 by Mr Stevenson.")],
     ["not in document 0", "number 1887"]),
    ("It was built in 1887.", [(1, "The lighthouse was built in 1887.")], ["not in document 1", "number 1887"]),
    ("It was built in 1887.", [(2, "The lighthouse was built in 1887.")], ["no document 2", "number 1887"]),
    ("It was built long ago.", [(0, "built")], ["shorter than 3 words"]),
    ("It was built long ago.", [], ["cites nothing"]),
])
def test_grounding(answer, citations, problems):
    report = check_grounding(answer, citations, DOCS)
    assert len(report.problems) == len(problems) and report.grounded == (not problems)
    for found, expected in zip(report.problems, problems):
        assert expected in found


# ----------------------------------------------------------------------------- truncation vs tokenizers

WORDS = [f"w{i}" for i in range(60)]


@pytest.fixture(scope="module")
def word_tokenizer():
    return tiny_chat_tokenizer([" ".join(WORDS)], add_bos_token=True)  # one id per word; <s> added in front


def words_ids(tok, words: list[str]) -> list[int]:
    return tok(" ".join(words), add_special_tokens=False).input_ids


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("seed", range(10))
def test_truncate_ids_equals_tokenizer(word_tokenizer, side, seed):
    rng = random.Random(seed)
    word_tokenizer.truncation_side = side
    for _ in range(20):
        words = rng.sample(WORDS, rng.randint(1, 30))
        n = rng.randint(2, 35)
        ids = words_ids(word_tokenizer, words)
        text = " ".join(words)
        assert truncate_ids(ids, n, side) == word_tokenizer(text, truncation=True, max_length=n,
                                                             add_special_tokens=False).input_ids
        special = word_tokenizer.num_special_tokens_to_add()
        assert [word_tokenizer.bos_token_id] + truncate_ids(ids, n - special, side) == word_tokenizer(
            text, truncation=True, max_length=n).input_ids
    word_tokenizer.truncation_side = "right"


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("strategy", ["longest_first", "only_first", "only_second"])
@pytest.mark.parametrize("seed", range(8))
def test_truncate_pair_equals_tokenizer(word_tokenizer, strategy, side, seed):
    rng = random.Random(seed)
    word_tokenizer.truncation_side = side
    for _ in range(25):
        a, b = rng.sample(WORDS, rng.randint(1, 20)), rng.sample(WORDS, rng.randint(1, 20))
        n = rng.randint(1, 40)
        ids_a, ids_b = words_ids(word_tokenizer, a), words_ids(word_tokenizer, b)
        try:
            reference = word_tokenizer(" ".join(a), " ".join(b), truncation=strategy, max_length=n,
                                       add_special_tokens=False).input_ids
        except Exception as error:  # noqa: BLE001 (tokenizers raises a bare Exception) refuses when the chosen sequence is too short
            assert "too short" in str(error)
            with pytest.raises(ValueError, match="strategy"):
                truncate_pair(ids_a, ids_b, n, strategy, side)
            continue
        first, second = truncate_pair(ids_a, ids_b, n, strategy, side)
        assert first + second == reference, (len(a), len(b), n)
    word_tokenizer.truncation_side = "right"


@pytest.mark.parametrize("seed", range(5))
def test_truncate_middle(seed):
    rng = random.Random(seed)
    for _ in range(50):
        ids = list(range(rng.randint(0, 40)))
        n = rng.randint(2, 40)
        marker = [-1] if rng.random() < 0.5 else []
        out = truncate_middle(ids, n, marker)
        if len(ids) <= n:
            assert out == ids
            continue
        assert len(out) == n
        room = n - len(marker)
        assert out == ids[:(room + 1) // 2] + marker + ids[len(ids) - room // 2:]


def test_fit_chat_keeps_system_and_the_longest_fitting_suffix():
    rng = random.Random(0)
    for _ in range(40):
        chat = [{"role": "system", "content": "s " * rng.randint(1, 5)}] if rng.random() < 0.5 else []
        for j in range(rng.randint(1, 9)):
            chat.append({"role": "user" if j % 2 == 0 else "assistant", "content": "x " * rng.randint(1, 9)})
        count = lambda msgs: sum(len(m["content"].split()) + 2 for m in msgs)
        limit = rng.randint(5, 60)
        system = chat[:1] if chat[0]["role"] == "system" else []
        turns = chat[len(system):]
        suffixes = [turns[i:] for i in range(len(turns)) if turns[i]["role"] == "user"]
        fitting = [s for s in suffixes if count(system + s) <= limit]
        if not fitting:
            with pytest.raises(ValueError, match="max_tokens"):
                fit_chat(chat, count, limit)
        else:
            assert fit_chat(chat, count, limit) == system + max(fitting, key=len)


# ----------------------------------------------------------------------------- bad input

class NoBounds(BaseModel):
    n: int


class FreeText(BaseModel):
    text: str


class Unsupported(BaseModel):
    x: float


@pytest.mark.parametrize("call,error,match", [
    (lambda: lit(""), ValueError, "text"),
    (lambda: chars(""), ValueError, "allowed"),
    (lambda: repeat(lit("a"), 3, 2), ValueError, "low"),
    (lambda: choice("abc"), ValueError, "strings"),
    (lambda: compile_pattern("a|b"), TypeError, "pattern"),
    (lambda: json_pattern(dict), TypeError, "model"),
    (lambda: json_pattern(NoBounds), ValueError, "field 'n'"),
    (lambda: json_pattern(FreeText), ValueError, "field 'text'.*max_length"),
    (lambda: json_pattern(Unsupported), ValueError, "field 'x'"),
    (lambda: TokenIndex(compile_pattern(lit("ab")), [None, "a"], 0), ValueError, "vocab"),
    (lambda: TokenIndex(compile_pattern(lit("ab")), [None, "a", "b"], 5), ValueError, "eos_token_id"),
    (lambda: TokenIndex(compile_pattern(lit("ab")), [None, "a", "b"], 0).walk_ids([2]), ValueError, "ids"),
    (lambda: FSMLogitsProcessor(TokenIndex(compile_pattern(lit("a")), [None, "a"], 0), -1), ValueError,
     "prompt_length"),
    (lambda: FSMLogitsProcessor(TokenIndex(compile_pattern(lit("a")), [None, "a"], 0), 0)(
        torch.zeros(1, 1, dtype=torch.long), torch.zeros(1, 1)), ValueError, "scores"),
    (lambda: generate_validated(str, Ticket, "p", max_attempts=0), ValueError, "max_attempts"),
    (lambda: generate_validated("not callable", Ticket, "p"), TypeError, "generate"),
    (lambda: check_grounding(3, [], DOCS), TypeError, "answer"),
    (lambda: check_grounding("a", [], "one document"), TypeError, "documents"),
    (lambda: truncate_ids([1, 2], -1), ValueError, "max_length"),
    (lambda: truncate_ids([1, 2], 1, side="middle"), ValueError, "side"),
    (lambda: truncate_pair([1, 2], [3], 2, strategy="shortest"), ValueError, "strategy"),
    (lambda: truncate_middle([1, 2, 3], 1, marker=[0, 0]), ValueError, "max_length"),
    (lambda: fit_chat([], len, 5), ValueError, "messages"),
])
def test_bad_input_is_rejected(call, error, match):
    with pytest.raises(error, match=match):
        call()
