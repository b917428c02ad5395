"""Structured output: constrained decoding, validation with retries, grounding checks, and truncation.

Four tools for getting usable output from a language model:

1. **Constrained decoding** (Willard and Louf, *Efficient Guided Generation for Large Language
   Models*, 2023, arXiv:2307.09702). A pattern (a regular language: literals, character classes,
   alternatives, bounded repeats) is compiled to a deterministic finite-state machine (FSM) over
   characters. For each FSM state the index lists the vocabulary tokens that keep the text inside
   the language; `FSMLogitsProcessor` sets every other logit to $-\\infty$ before sampling:

   $$\\begin{gathered}
   \\tilde z_t = \\begin{cases} z_t & t \\in A(s) \\\\ -\\infty & \\text{otherwise,} \\end{cases} \\\\
   A(s) = \\{t : \\delta^*(s, \\text{text}(t)) \\text{ is defined}\\} \\cup \\{\\text{EOS} : s \\in F\\},
   \\end{gathered}$$

   where $\\delta^*$ walks the FSM through the characters of token $t$ and $F$ is the set of
   accepting states. `json_pattern` builds the pattern of a small pydantic model's compact JSON.
2. **Validation and retry**: `generate_validated` parses with pydantic's ``model_validate_json`` and
   asks again, quoting the errors, until the output validates or the attempts run out.
3. **Grounding**: `check_grounding` verifies that every quoted sentence appears in the cited
   document and that every number in the answer appears in a quote. It catches fabricated quotes
   and numbers; it cannot tell whether the answer follows from the quotes.
4. **Truncation** to a context window: `truncate_ids` and `truncate_pair` reproduce Hugging Face
   tokenizers' ``truncation`` (``truncation_side``, ``longest_first``, ``only_first``,
   ``only_second``); `truncate_middle` keeps both ends; `fit_chat` drops the oldest turns but keeps
   the system prompt.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from pydantic import BaseModel, ValidationError
from transformers import LogitsProcessor

__all__ = [
    "FSM",
    "Attempt",
    "FSMLogitsProcessor",
    "GroundingReport",
    "Pattern",
    "StructuredOutputError",
    "TokenIndex",
    "alt",
    "chars",
    "check_grounding",
    "choice",
    "compile_pattern",
    "fit_chat",
    "generate_validated",
    "json_pattern",
    "lit",
    "repeat",
    "seq",
    "truncate_ids",
    "truncate_middle",
    "truncate_pair",
]


# =================================================================================================
# 1. Patterns: a small regular-expression language built from Python functions
# =================================================================================================

@dataclass(frozen=True)
class Pattern:
    """A regular pattern: ``kind`` is one of lit, chars, seq, alt, repeat (build it with the helpers)."""

    kind: str
    text: str = ""  # lit: the literal; chars: the allowed characters
    parts: tuple[Pattern, ...] = ()  # seq / alt: the sub-patterns; repeat: one sub-pattern
    low: int = 0  # repeat: at least `low` times
    high: int | None = None  # repeat: at most `high` times (None: unbounded)

    def to_regex(self) -> str:
        """The same language as a Python regular expression (used by the tests as a reference)."""
        if self.kind == "lit":
            return re.escape(self.text)
        if self.kind == "chars":
            return "[" + "".join(re.escape(c) for c in sorted(self.text)) + "]"
        if self.kind == "seq":
            return "".join(f"(?:{p.to_regex()})" for p in self.parts)
        if self.kind == "alt":
            return "(?:" + "|".join(p.to_regex() for p in self.parts) + ")"
        high = "" if self.high is None else str(self.high)
        return f"(?:{self.parts[0].to_regex()}){{{self.low},{high}}}"


def lit(text: str) -> Pattern:
    """Exactly the string ``text``."""
    if not isinstance(text, str) or not text:
        raise ValueError(f"text must be a non-empty str, got {text!r}")
    return Pattern("lit", text=text)


def chars(allowed: Iterable[str]) -> Pattern:
    """Any one character of ``allowed`` (a string or an iterable of single characters)."""
    allowed = "".join(sorted(set(allowed)))
    if not allowed:
        raise ValueError("allowed must contain at least one character")
    return Pattern("chars", text=allowed)


def seq(*parts: Pattern) -> Pattern:
    """The parts one after the other."""
    return Pattern("seq", parts=tuple(parts))


def alt(*options: Pattern) -> Pattern:
    """Any one of the options."""
    if not options:
        raise ValueError("options must not be empty")
    return Pattern("alt", parts=tuple(options))


def choice(strings: Sequence[str]) -> Pattern:
    """Exactly one of ``strings`` (a choice list, e.g. the labels of a classifier)."""
    if isinstance(strings, str) or not strings:
        raise ValueError("strings must be a non-empty list of str")
    return alt(*(lit(s) for s in strings))


def repeat(part: Pattern, low: int = 0, high: int | None = None) -> Pattern:
    """``part`` repeated between ``low`` and ``high`` times (``high=None``: any number)."""
    if low < 0 or (high is not None and high < max(low, 1)):
        raise ValueError(f"need 0 <= low <= high and high >= 1, got low={low}, high={high}")
    return Pattern("repeat", parts=(part,), low=low, high=high)


# =================================================================================================
# 2. From pattern to a deterministic finite-state machine over characters
# =================================================================================================

class _NFA:
    """Thompson's construction: states with character-set edges and empty (epsilon) edges."""

    def __init__(self) -> None:
        self.edges: list[list[tuple[str, int]]] = []  # state -> [(allowed characters, next state)]
        self.eps: list[list[int]] = []  # state -> [next state without reading a character]

    def state(self) -> int:
        self.edges.append([])
        self.eps.append([])
        return len(self.edges) - 1

    def build(self, p: Pattern) -> tuple[int, int]:
        """Add the states of ``p``; return its (start, end) states."""
        start = self.state()
        if p.kind in ("lit", "chars"):
            steps = list(p.text) if p.kind == "lit" else [p.text]
            here = start
            for allowed in steps:
                nxt = self.state()
                self.edges[here].append((allowed, nxt))
                here = nxt
            return start, here
        if p.kind == "seq":
            here = start
            for part in p.parts:
                s, e = self.build(part)
                self.eps[here].append(s)
                here = e
            return start, here
        if p.kind == "alt":
            end = self.state()
            for part in p.parts:
                s, e = self.build(part)
                self.eps[start].append(s)
                self.eps[e].append(end)
            return start, end
        # repeat: `low` mandatory copies, then either a loop or (high - low) optional copies
        here = start
        for _ in range(p.low):
            s, e = self.build(p.parts[0])
            self.eps[here].append(s)
            here = e
        end = self.state()
        self.eps[here].append(end)
        if p.high is None:
            s, e = self.build(p.parts[0])
            self.eps[here].append(s)
            self.eps[e].append(here)  # loop back: any number of extra copies
        else:
            for _ in range(p.high - p.low):
                s, e = self.build(p.parts[0])
                self.eps[here].append(s)
                here = e
                self.eps[here].append(end)
        return start, end

    def closure(self, states: Iterable[int]) -> frozenset[int]:
        """All states reachable through epsilon edges."""
        stack, seen = list(states), set(states)
        while stack:
            for nxt in self.eps[stack.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        return frozenset(seen)


@dataclass
class FSM:
    """A deterministic finite-state machine over characters; state 0 is the start.

    ``transitions[s]`` maps a character to the next state; a missing character means the text has
    left the language. Every state can still reach an accepting state (the machine is trimmed).
    """

    transitions: list[dict[str, int]]
    accepting: frozenset[int]

    def walk(self, state: int | None, text: str) -> int | None:
        """The state after reading ``text`` from ``state``, or None if the text leaves the language."""
        for ch in text:
            if state is None:
                return None
            state = self.transitions[state].get(ch)
        return state

    def accepts(self, text: str) -> bool:
        """Whether ``text`` is a complete string of the language."""
        return self.walk(0, text) in self.accepting

    def max_length(self) -> int | None:
        """Length of the longest accepted string, or None if the language is infinite."""
        memo: dict[int, int | None] = {}
        visiting: set[int] = set()

        def longest(s: int) -> int | None:
            if s in memo:
                return memo[s]
            if s in visiting:
                raise _Cycle
            visiting.add(s)
            best = 0 if s in self.accepting else -1
            for nxt in self.transitions[s].values():
                sub = longest(nxt)
                best = max(best, 1 + sub)
            visiting.discard(s)
            memo[s] = best
            return best

        try:
            return longest(0)
        except _Cycle:
            return None


class _Cycle(Exception):
    pass


def compile_pattern(pattern: Pattern) -> FSM:
    """Compile a pattern to a trimmed deterministic FSM (Thompson NFA, then subset construction)."""
    if not isinstance(pattern, Pattern):
        raise TypeError(f"pattern must be a Pattern, got {type(pattern).__name__}")
    nfa = _NFA()
    start, end = nfa.build(pattern)
    subsets = [nfa.closure([start])]
    number = {subsets[0]: 0}
    transitions: list[dict[str, int]] = []
    for subset in subsets:  # grows while we iterate: breadth-first over reachable subsets
        moves: dict[str, set[int]] = {}
        for s in subset:
            for allowed, nxt in nfa.edges[s]:
                for ch in allowed:
                    moves.setdefault(ch, set()).add(nxt)
        row = {}
        for ch, targets in sorted(moves.items()):
            target = nfa.closure(targets)
            if target not in number:
                number[target] = len(subsets)
                subsets.append(target)
            row[ch] = number[target]
        transitions.append(row)
    accepting = {i for i, subset in enumerate(subsets) if end in subset}
    # Trim: keep only states from which an accepting state is reachable.
    live = set(accepting)
    changed = True
    while changed:
        changed = False
        for s, row in enumerate(transitions):
            if s not in live and any(t in live for t in row.values()):
                live.add(s)
                changed = True
    if 0 not in live:
        raise ValueError("pattern accepts no string")
    transitions = [{ch: t for ch, t in row.items() if t in live} for row in transitions]
    return FSM(transitions=transitions, accepting=frozenset(accepting))


# =================================================================================================
# 3. A pattern for the compact JSON of a small pydantic model
# =================================================================================================

SAFE_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,-"  # need no JSON escape


def json_pattern(model: type[BaseModel]) -> Pattern:
    """The pattern of ``model.model_dump_json()`` output: compact JSON, fields in declaration order.

    Supported field types, chosen so that every string of the pattern validates:

    - ``Literal["a", "b", ...]``: one of the strings;
    - ``bool``: ``true`` or ``false``;
    - ``int`` with ``Field(ge=0, le=10**k - 1)``: 0 or a number without leading zeros, at most k digits;
    - ``str`` with ``Field(max_length=n)``: 0 to n characters of `SAFE_CHARS` (``min_length`` honoured);
    - a nested pydantic model.

    Raises:
        ValueError: for any other field type, naming the field.
    """
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise TypeError(f"model must be a pydantic BaseModel subclass, got {model!r}")
    parts: list[Pattern] = [lit("{")]
    for i, (name, info) in enumerate(model.model_fields.items()):
        key = "," if i else ""
        parts.append(lit(f'{key}"{name}":'))
        parts.append(_value_pattern(name, info.annotation, info.metadata))
    parts.append(lit("}"))
    return seq(*parts)


def _value_pattern(name: str, annotation: object, metadata: list) -> Pattern:
    bounds = {type(m).__name__: m for m in metadata}  # annotated_types.Ge, Le, MinLen, MaxLen
    if typing.get_origin(annotation) is Literal:
        values = typing.get_args(annotation)
        if not all(isinstance(v, str) and all(c in SAFE_CHARS for c in v) for v in values):
            raise ValueError(f"field {name!r}: only Literal values of plain strings are supported")
        return choice([f'"{v}"' for v in values])
    if annotation is bool:
        return choice(["true", "false"])
    if annotation is int:
        ge, le = getattr(bounds.get("Ge"), "ge", None), getattr(bounds.get("Le"), "le", None)
        if ge != 0 or le is None or str(le + 1) != "1" + "0" * (len(str(le + 1)) - 1):
            raise ValueError(f"field {name!r}: int fields need Field(ge=0, le=9), le=99, le=999, ...")
        digits = len(str(le))
        return alt(lit("0"), seq(chars("123456789"), repeat(chars("0123456789"), 0, digits - 1)))
    if annotation is str:
        max_len = getattr(bounds.get("MaxLen"), "max_length", None)
        min_len = getattr(bounds.get("MinLen"), "min_length", 0)
        if max_len is None:
            raise ValueError(f"field {name!r}: str fields need Field(max_length=...) so that generation ends")
        return seq(lit('"'), repeat(chars(SAFE_CHARS), min_len, max_len), lit('"'))
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return json_pattern(annotation)
    raise ValueError(f"field {name!r}: unsupported type {annotation!r}")


# =================================================================================================
# 4. From characters to tokens: the vocabulary index and the logits processor
# =================================================================================================

class TokenIndex:
    """For each FSM state, the token ids that keep the text in the language (computed once per state).

    Args:
        fsm: the compiled pattern.
        vocab: the text of every token id; special tokens (None or "") are never allowed,
            except ``eos_token_id``, which is allowed exactly in accepting states.
        eos_token_id: the id that ends generation.
    """

    def __init__(self, fsm: FSM, vocab: Sequence[str | None], eos_token_id: int) -> None:
        if not 0 <= eos_token_id < len(vocab):
            raise ValueError(f"eos_token_id {eos_token_id} is outside the vocabulary of {len(vocab)} tokens")
        self.fsm, self.vocab, self.eos_token_id = fsm, list(vocab), eos_token_id
        self._allowed: dict[int, list[int]] = {}
        self._check_vocab_covers_language()

    def allowed(self, state: int) -> list[int]:
        """Token ids allowed in ``state``: $A(s)$ of the module docstring."""
        if state not in self._allowed:
            ids = [t for t, text in enumerate(self.vocab)
                   if text and t != self.eos_token_id and self.fsm.walk(state, text) is not None]
            if state in self.fsm.accepting:
                ids.append(self.eos_token_id)
            self._allowed[state] = sorted(ids)
        return self._allowed[state]

    def walk_ids(self, ids: Iterable[int]) -> int | None:
        """The FSM state after the generated ``ids``; None once EOS was generated.

        Raises:
            ValueError: if the ids leave the language (they were not generated under the constraint).
        """
        state = 0
        for t in ids:
            t = int(t)
            if t == self.eos_token_id and state in self.fsm.accepting:
                return None
            text = self.vocab[t] if 0 <= t < len(self.vocab) else None
            nxt = self.fsm.walk(state, text) if text else None
            if nxt is None:
                raise ValueError(f"ids: token {t} ({text!r}) is not allowed after {self.decode(ids)!r}")
            state = nxt
        return state

    def decode(self, ids: Iterable[int]) -> str:
        """The text of ``ids``; special tokens (EOS, padding) contribute nothing."""
        return "".join(self.vocab[int(t)] or "" for t in ids if 0 <= int(t) < len(self.vocab))

    def _check_vocab_covers_language(self) -> None:
        """From every state the tokens can reach, some token path must reach EOS, or generation gets stuck."""
        edges: dict[int, set[int]] = {}
        stack = [0]
        while stack:  # explore the token-level machine
            state = stack.pop()
            edges[state] = {self.fsm.walk(state, self.vocab[t]) for t in self.allowed(state) if t != self.eos_token_id}
            stack.extend(nxt for nxt in edges[state] if nxt not in edges)
        can_finish = {s for s in edges if s in self.fsm.accepting}
        changed = True
        while changed:
            changed = False
            for state, targets in edges.items():
                if state not in can_finish and targets & can_finish:
                    can_finish.add(state)
                    changed = True
        stuck = sorted(set(edges) - can_finish)
        if stuck:
            needed = sorted(self.fsm.transitions[stuck[0]])
            raise ValueError(f"vocab cannot complete the pattern from FSM state {stuck[0]}: "
                             f"add tokens for the characters {needed}")


class FSMLogitsProcessor(LogitsProcessor):
    """Mask every token that would leave the pattern; use in ``model.generate(logits_processor=...)``.

    Args:
        index: the `TokenIndex` of the pattern and the vocabulary.
        prompt_length: number of prompt tokens; the constraint applies to the tokens after them.

    Shapes: ``input_ids`` is (batch, prompt_length + generated), ``scores`` (batch, vocab_size);
    the returned scores have the same shape, with $-\\infty$ on the forbidden tokens. A row that
    already ended (EOS generated) may only produce EOS again (the padding ``generate`` adds).
    """

    def __init__(self, index: TokenIndex, prompt_length: int) -> None:
        if prompt_length < 0:
            raise ValueError(f"prompt_length must be >= 0, got {prompt_length}")
        self.index, self.prompt_length = index, prompt_length

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if scores.shape[-1] < len(self.index.vocab):
            raise ValueError(f"scores has {scores.shape[-1]} columns for a vocabulary of {len(self.index.vocab)}")
        mask = torch.full_like(scores, float("-inf"))  # (batch, vocab_size)
        for row in range(input_ids.shape[0]):
            state = self.index.walk_ids(input_ids[row, self.prompt_length:].tolist())
            allowed = [self.index.eos_token_id] if state is None else self.index.allowed(state)
            mask[row, allowed] = 0.0
        return scores + mask


# =================================================================================================
# 5. Validation with retries
# =================================================================================================

@dataclass(frozen=True)
class Attempt:
    """One call of the model: the prompt sent, the text received, the validation errors (empty if valid)."""

    prompt: str
    output: str
    errors: tuple[str, ...]


class StructuredOutputError(ValueError):
    """No attempt produced valid output; ``attempts`` holds every try."""

    def __init__(self, attempts: list[Attempt]) -> None:
        super().__init__(f"no valid output after {len(attempts)} attempts; last errors: {list(attempts[-1].errors)}")
        self.attempts = attempts


M = typing.TypeVar("M", bound=BaseModel)


def generate_validated(generate: Callable[[str], str], schema: type[M], prompt: str,
                       max_attempts: int = 3) -> tuple[M, list[Attempt]]:
    """Call ``generate(prompt)`` until its output validates against ``schema``.

    After a failure the next prompt repeats the request, quotes the invalid output and lists
    pydantic's errors (``field: message``), so that the model can correct itself. A Markdown code
    fence around the JSON (```` ```json ... ``` ````) is removed before validation.

    Returns:
        The validated instance and the list of attempts.

    Raises:
        StructuredOutputError: if no output validates within ``max_attempts`` calls.
        ValueError: if ``max_attempts`` < 1.
    """
    if not isinstance(max_attempts, int) or max_attempts < 1:
        raise ValueError(f"max_attempts must be a positive int, got {max_attempts!r}")
    if not callable(generate):
        raise TypeError("generate must be a callable taking a prompt and returning text")
    attempts: list[Attempt] = []
    current = prompt
    for _ in range(max_attempts):
        output = generate(current)
        try:
            instance = schema.model_validate_json(_strip_fence(output))
        except ValidationError as error:
            errors = tuple(f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}" for e in error.errors())
            attempts.append(Attempt(current, output, errors))
            current = (f"{prompt}\n\nYour previous answer was:\n{output}\nIt is invalid:\n"
                       + "\n".join(f"- {e}" for e in errors) + "\nAnswer again with corrected JSON only.")
            continue
        attempts.append(Attempt(current, output, ()))
        return instance, attempts
    raise StructuredOutputError(attempts)


def _strip_fence(text: str) -> str:
    match = re.fullmatch(r"\s*```(?:json)?\s*\n(.*?)\n?```\s*", text, re.DOTALL)
    return match.group(1) if match else text


# =================================================================================================
# 6. Grounding: are the quotes in the documents, and the numbers in the quotes?
# =================================================================================================

@dataclass(frozen=True)
class GroundingReport:
    """The outcome of `check_grounding`; ``grounded`` is True when no problem was found."""

    problems: tuple[str, ...]

    @property
    def grounded(self) -> bool:
        return not self.problems


def _normalize(text: str) -> str:
    """Case-fold and collapse whitespace, so that line breaks and capitals do not matter."""
    return " ".join(text.split()).casefold()


NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def check_grounding(answer: str, citations: Sequence[tuple[int, str]], documents: Sequence[str],
                    min_words: int = 3) -> GroundingReport:
    """Check an answer against the documents it cites.

    A citation is ``(document index, quoted sentence)``. The answer is grounded when it cites at least
    one quote, every quote has at least ``min_words`` words and appears verbatim (up to case and
    whitespace) in the cited document, and every number written in the answer appears in a quote.
    Passing proves the quotes are real, not that the answer follows from them.

    Raises:
        TypeError: if ``answer`` is not a string or ``documents`` is a single string.
    """
    if not isinstance(answer, str):
        raise TypeError(f"answer must be a str, got {type(answer).__name__}")
    if isinstance(documents, str):
        raise TypeError("documents must be a list of strings, not a single str")
    problems = []
    if not citations:
        problems.append("the answer cites nothing")
    found_quotes = []
    for i, (doc, quote) in enumerate(citations):
        if not (isinstance(doc, int) and 0 <= doc < len(documents)):
            problems.append(f"citation {i}: there is no document {doc!r}")
        elif len(quote.split()) < min_words:
            problems.append(f"citation {i}: quote {quote!r} is shorter than {min_words} words")
        elif _normalize(quote) not in _normalize(documents[doc]):
            problems.append(f"citation {i}: quote {quote!r} is not in document {doc}")
        else:
            found_quotes.append(_normalize(quote))
    quoted_numbers = {n for q in found_quotes for n in NUMBER.findall(q)}
    for number in NUMBER.findall(answer):
        if number not in quoted_numbers:
            problems.append(f"the number {number} in the answer appears in no verified quote")
    return GroundingReport(tuple(problems))


# =================================================================================================
# 7. Fitting a context window: truncation
# =================================================================================================

Side = Literal["right", "left"]


def _check_length(max_length: int) -> None:
    if not isinstance(max_length, int) or max_length < 0:
        raise ValueError(f"max_length must be a non-negative int, got {max_length!r}")


def _keep(ids: Sequence[int], n: int, side: Side) -> list[int]:
    if side not in ("right", "left"):
        raise ValueError(f"side must be 'right' or 'left', got {side!r}")
    ids = list(ids)
    if len(ids) <= n:
        return ids
    return ids[:n] if side == "right" else ids[len(ids) - n:]  # right: cut the end; left: cut the start


def truncate_ids(ids: Sequence[int], max_length: int, side: Side = "right") -> list[int]:
    """Keep at most ``max_length`` tokens, cutting the end (``side="right"``) or the start (``"left"``).

    Equals ``tokenizer(text, truncation=True, max_length=max_length, add_special_tokens=False)`` with
    ``tokenizer.truncation_side = side``. With special tokens, the tokenizer first reserves room for
    them: pass ``max_length - tokenizer.num_special_tokens_to_add()``.
    """
    _check_length(max_length)
    return _keep(ids, max_length, side)


def truncate_pair(first: Sequence[int], second: Sequence[int], max_length: int,
                  strategy: Literal["longest_first", "only_first", "only_second"] = "longest_first",
                  side: Side = "right") -> tuple[list[int], list[int]]:
    """Truncate a pair of sequences (e.g. question and document) to ``max_length`` tokens together.

    - ``only_first`` / ``only_second``: cut only that sequence; it must keep at least one token.
    - ``longest_first``: if the shorter sequence fits in half the budget, cut only the longer one to
      the rest; otherwise give the shorter one $\\lfloor n/2 \\rfloor$ and the longer one
      $\\lceil n/2 \\rceil$ tokens (on equal lengths the first counts as the shorter).

    This is the rule of Hugging Face ``tokenizers`` (``truncation=strategy``, fast tokenizers).

    Raises:
        ValueError: if the chosen sequence is too short to remove enough tokens.
    """
    _check_length(max_length)
    first, second = list(first), list(second)
    excess = len(first) + len(second) - max_length
    if excess <= 0:
        return first, second
    if strategy in ("only_first", "only_second"):
        target = first if strategy == "only_first" else second
        if len(target) <= excess:
            raise ValueError(f"strategy={strategy!r}: the sequence has {len(target)} tokens, too few to remove "
                             f"{excess} and keep one (max_length={max_length})")
        cut = _keep(target, len(target) - excess, side)
        return (cut, second) if strategy == "only_first" else (first, cut)
    if strategy != "longest_first":
        raise ValueError(f"strategy must be longest_first, only_first or only_second, got {strategy!r}")
    first_is_shorter = len(first) <= len(second)
    short = min(len(first), len(second))
    if 2 * short <= max_length:  # the shorter one fits in half the budget: cut only the longer
        keep_short, keep_long = short, max_length - short
    else:  # both are cut: split the budget, the extra token to the longer one
        keep_short, keep_long = max_length // 2, max_length - max_length // 2
    keep_first, keep_second = (keep_short, keep_long) if first_is_shorter else (keep_long, keep_short)
    return _keep(first, keep_first, side), _keep(second, keep_second, side)


def truncate_middle(ids: Sequence[int], max_length: int, marker: Sequence[int] = ()) -> list[int]:
    """Keep the start and the end, drop the middle ("middle-out"), with an optional marker in between.

    The head keeps $\\lceil m/2 \\rceil$ and the tail $\\lfloor m/2 \\rfloor$ of the
    $m = $ ``max_length - len(marker)`` tokens left for text.
    """
    _check_length(max_length)
    ids, marker = list(ids), list(marker)
    if len(ids) <= max_length:
        return ids
    room = max_length - len(marker)
    if room < 0:
        raise ValueError(f"max_length {max_length} is shorter than the marker ({len(marker)} tokens)")
    head, tail = room - room // 2, room // 2
    return ids[:head] + marker + ids[len(ids) - tail:]


def fit_chat(messages: Sequence[dict[str, str]], count_tokens: Callable[[list[dict[str, str]]], int],
             max_tokens: int) -> list[dict[str, str]]:
    """Drop the oldest exchanges until the conversation fits, keeping the system prompt and the latest turns.

    Messages are removed from the front (after an optional system message) one whole exchange at a
    time, so the kept turns still start with a user message and alternate. ``count_tokens`` measures
    a candidate conversation, for example ``lambda m: len(tokenizer.apply_chat_template(m)["input_ids"])``.

    Raises:
        ValueError: if even the system prompt and the last exchange do not fit in ``max_tokens``.
    """
    _check_length(max_tokens)
    messages = [dict(m) for m in messages]
    if not messages:
        raise ValueError("messages must not be empty")
    system = messages[:1] if messages[0]["role"] == "system" else []
    turns = messages[len(system):]
    while True:
        if count_tokens(system + turns) <= max_tokens:
            return system + turns
        starts = [i for i, m in enumerate(turns) if m["role"] == "user" and i > 0]
        if not starts:
            raise ValueError(f"max_tokens={max_tokens} is too small for the system prompt and the last exchange "
                             f"({count_tokens(system + turns)} tokens)")
        turns = turns[starts[0]:]  # drop the oldest exchange: everything before the next user message

