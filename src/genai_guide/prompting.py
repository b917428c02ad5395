"""Prompting: prompt builders and the loops around a language model, written to be read.

The chapters [In-context learning](../../using/in_context_learning.md) and
[Prompting techniques](../../using/prompting.md) explain each piece. Everything here talks to a
model through one narrow interface, `Generate`: a function from a prompt string to the text the
model writes next. A hosted API, a local server, a `transformers` model
(`transformers_generate`) or a scripted stand-in (`ScriptedModel`) all fit it, so the same loop
runs in the tests, on a laptop and against a large model.

- **Prompt builders** return exact strings: `zero_shot_prompt`, `one_shot_prompt`,
  `few_shot_prompt` (Brown et al. 2020), `instruction_prompt` and `chat_messages` (instructions and
  roles), `chain_of_thought_prompt` (Wei et al. 2022; Kojima et al. 2022).
- **Answer handling**: `extract_answer`, `majority_vote` and `self_consistency` (Wang et al. 2022).
- **Chains and tools**: `run_chain` (prompt chaining), `calculator` (arithmetic evaluated safely
  from the syntax tree, never with `eval`) and `KnowledgeTable` (a lookup over a small local table).
- **Loops**: `react` (Yao et al. 2022: Thought, Action, Observation), `self_ask` (Press et al. 2022:
  multi-hop questions decomposed into follow-up questions) and `tree_of_thoughts` (Yao et al. 2023:
  a breadth-first beam search over thoughts), with the Game of 24 as its worked task.

Stop sequences are handled by the loops themselves: whatever a `Generate` returns is cut at the
loop's stop strings (`cut_at_stop`), so a backend that ignores them still works; passing them to a
server as well only saves tokens.
"""

from __future__ import annotations

import ast
import itertools
import math
import operator
import re
import string
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Generic, TypeVar

from genai_guide._checks import check_int as _check_int

__all__ = [
    "COT_EXAMPLE",
    "SELF_ASK_EXAMPLE",
    "ChainStep",
    "Game24State",
    "Generate",
    "KnowledgeTable",
    "ReActResult",
    "ReActStep",
    "ScriptedModel",
    "SelfAskResult",
    "SelfConsistencyResult",
    "ToTResult",
    "Tool",
    "calculator",
    "chain_of_thought_prompt",
    "char_codec",
    "chat_messages",
    "cut_at_stop",
    "extract_answer",
    "few_shot_prompt",
    "format_react_step",
    "game24_next_states",
    "game24_propose",
    "game24_proposer",
    "game24_search",
    "game24_value",
    "game24_valuer",
    "instruction_prompt",
    "majority_vote",
    "one_shot_prompt",
    "parse_react_step",
    "react",
    "run_chain",
    "self_ask",
    "self_consistency",
    "solve24",
    "transformers_generate",
    "tree_of_thoughts",
    "zero_shot_prompt",
]

Generate = Callable[[str], str]
"""A language model seen from outside: prompt in, continuation out (the prompt itself not repeated)."""

S = TypeVar("S")


# ---- argument checks ----------------------------------------------------------------------------


def _check_str(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    return value


def _check_callable(name: str, value: object) -> None:
    if not callable(value):
        raise TypeError(f"{name} must be callable (a Generate: str -> str), got {type(value).__name__}")


def _call(generate: Generate, prompt: str) -> str:
    reply = generate(prompt)
    if not isinstance(reply, str):
        raise TypeError(f"generate must return a str, got {type(reply).__name__}")
    return reply


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """The text before the earliest occurrence of any stop string (all of it if none occurs).

    This is what a server does with a `stop` parameter; doing it on our side makes every loop work
    with backends that ignore stop strings.

    Args:
        text: a model's continuation.
        stop: the stop strings.

    Raises:
        TypeError: if `text` is not a str or `stop` is not a sequence of str.
        ValueError: if a stop string is empty.
    """
    _check_str("text", text)
    if isinstance(stop, str) or not all(isinstance(s, str) for s in stop):
        raise TypeError("stop must be a sequence of str (a list, not a single string)")
    if any(s == "" for s in stop):
        raise ValueError("stop strings must not be empty")
    cut = min((i for i in (text.find(s) for s in stop) if i >= 0), default=len(text))
    return text[:cut]


# ---- prompt builders ----------------------------------------------------------------------------


def _check_template(template: object) -> str:
    _check_str("template", template)
    fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    if sorted(fields) != ["input", "output"]:
        raise ValueError(f"template must contain {{input}} and {{output}} once each, got fields {fields}")
    if not template.endswith("{output}"):
        raise ValueError("template must end with {output}, where the model writes its answer")
    return template


def _check_examples(examples: object) -> list[tuple[str, str]]:
    if isinstance(examples, (str, bytes)) or not isinstance(examples, Iterable):
        raise TypeError("examples must be a sequence of (input, output) pairs of str")
    pairs = []
    for pair in examples:
        if isinstance(pair, (str, bytes)) or not isinstance(pair, Sequence) or len(pair) != 2:
            raise TypeError(f"examples must hold (input, output) pairs of str, got {pair!r}")
        if not all(isinstance(x, str) for x in pair):
            raise TypeError(f"examples must hold (input, output) pairs of str, got {pair!r}")
        pairs.append((pair[0], pair[1]))
    return pairs


def few_shot_prompt(
    examples: Sequence[tuple[str, str]],
    query: str,
    *,
    instruction: str | None = None,
    template: str = "{input} => {output}",
    separator: str = "\n",
) -> str:
    """A few-shot prompt: an optional instruction, $k$ worked examples, then the query to complete.

    Brown et al. (2020, figure 2.1) call $k = 0$ zero-shot, $k = 1$ one-shot and a handful
    few-shot; the model sees the examples only in its input, with no gradient update:

    ```text
    Translate English to French:     <- instruction
    sea otter => loutre de mer       <- examples, one per line, the same template
    cheese =>                        <- the query: the template cut before {output}
    ```

    Args:
        examples: `(input, output)` pairs, shown in this order.
        query: the input whose output the model should write.
        instruction: a line placed first (omitted when `None`).
        template: how one example is written; must end with `{output}`.
        separator: what goes between the instruction, the examples and the query.

    Returns:
        The prompt. It ends where the model's answer should start (trailing spaces of the query
        line removed, since the answer's first token usually carries its own leading space).

    Raises:
        TypeError: if an argument has the wrong type.
        ValueError: if `template` lacks `{input}` or `{output}` or does not end with `{output}`.
    """
    pairs = _check_examples(examples)
    _check_str("query", query)
    _check_template(template)
    _check_str("separator", separator)
    if instruction is not None:
        _check_str("instruction", instruction)
    parts = [] if instruction is None else [instruction]
    parts += [template.format(input=x, output=y) for x, y in pairs]
    parts.append(template.format(input=query, output="").rstrip(" "))
    return separator.join(parts)


def zero_shot_prompt(query: str, *, instruction: str | None = None, template: str = "{input} => {output}",
                     separator: str = "\n") -> str:
    """`few_shot_prompt` with no examples: the instruction and the query alone (Brown et al. 2020)."""
    return few_shot_prompt([], query, instruction=instruction, template=template, separator=separator)


def one_shot_prompt(example: tuple[str, str], query: str, *, instruction: str | None = None,
                    template: str = "{input} => {output}", separator: str = "\n") -> str:
    """`few_shot_prompt` with exactly one worked example (Brown et al. 2020)."""
    return few_shot_prompt([example], query, instruction=instruction, template=template, separator=separator)


def instruction_prompt(
    instruction: str,
    *,
    role: str | None = None,
    context: str | None = None,
    output_format: str | None = None,
    input_text: str | None = None,
) -> str:
    """A plain-text prompt made of labelled parts: role, instruction, context, output format, input.

    Each part is optional except the instruction, and each gets its own line, so the model (and a
    reader) can tell the task from the data it applies to:

    ```text
    You are a careful copy editor.            <- role
    Instruction: Correct the spelling.        <- instruction
    Context: ...                              <- context (reference material)
    Output format: the corrected text only.   <- output format
    Input: Teh keeper lit teh lamp.           <- input
    Output:                                   <- where the model writes
    ```

    Args:
        instruction: what to do.
        role: who the model should act as (with a chat model, this is the system message).
        context: reference material the answer should use.
        output_format: what the answer must look like.
        input_text: the data the instruction applies to.

    Raises:
        TypeError: if a part is not a str.
        ValueError: if `instruction` is empty.
    """
    _check_str("instruction", instruction)
    if not instruction.strip():
        raise ValueError("instruction must not be empty")
    lines = []
    for name, value, label in (("role", role, None), ("instruction", instruction, "Instruction"),
                               ("context", context, "Context"), ("output_format", output_format, "Output format"),
                               ("input_text", input_text, "Input")):
        if value is None:
            continue
        _check_str(name, value)
        lines.append(value if label is None else f"{label}: {value}")
    lines.append("Output:")
    return "\n".join(lines)


def chat_messages(system: str | None, user: str, examples: Sequence[tuple[str, str]] = ()) -> list[dict[str, str]]:
    """The same request as a list of chat messages: system, then examples as past turns, then user.

    Chat models are trained on conversations with roles; a chat template (see the chapter on chat
    formats) turns this list into the one string the model reads. Few-shot examples become earlier
    user/assistant turns.

    Args:
        system: the system message (the role and rules), or `None`.
        user: the user's request.
        examples: `(user, assistant)` pairs placed before the request.

    Returns:
        `[{"role": ..., "content": ...}, ...]`.

    Raises:
        TypeError: if an argument has the wrong type.
    """
    if system is not None:
        _check_str("system", system)
    _check_str("user", user)
    messages = [] if system is None else [{"role": "system", "content": system}]
    for question, answer in _check_examples(examples):
        messages += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
    messages.append({"role": "user", "content": user})
    return messages


COT_EXAMPLE = (
    ("Roger has 5 tennis balls. He buys 2 more cans of tennis balls. Each can has 3 tennis balls. "
     "How many tennis balls does he have now?"),
    ("Roger started with 5 balls. 2 cans of 3 tennis balls each is 6 tennis balls. 5 + 6 = 11. "
     "The answer is 11."),
)
"""The worked example of Wei et al. (2022, figure 1): a question and a chain of thought that ends in the answer."""


def chain_of_thought_prompt(question: str, examples: Sequence[tuple[str, str]] = (),
                            trigger: str | None = None) -> str:
    """A chain-of-thought prompt in the "Q: ... A: ..." format.

    Few-shot chain of thought (Wei et al. 2022): each example's answer spells out the reasoning and
    ends with "The answer is ...". Zero-shot chain of thought (Kojima et al. 2022): no examples,
    and a trigger such as "Let's think step by step." placed after "A:".

    Args:
        question: the question to answer.
        examples: `(question, reasoning that ends in the answer)` pairs.
        trigger: text the model's answer starts with (omitted when `None`).

    Returns:
        The examples and the question, separated by blank lines, ending with "A:" (and the trigger).

    Raises:
        TypeError: if an argument has the wrong type.
    """
    _check_str("question", question)
    pairs = _check_examples(examples)
    if trigger is not None:
        _check_str("trigger", trigger)
    blocks = [f"Q: {q}\nA: {a}" for q, a in pairs]
    blocks.append(f"Q: {question}\nA:" + ("" if trigger is None else f" {trigger}"))
    return "\n\n".join(blocks)


def extract_answer(text: str) -> str | None:
    """The final answer: what follows the last "answer is" in `text`, up to the end of that sentence.

    A colon after "answer is", a leading `$` and surrounding spaces are dropped, the sentence ends
    at a period followed by a space or the end of the line, and thousands separators are removed
    from numbers, so "The answer is $1,250." gives "1250" and "the answer is 3.5." gives "3.5".

    Returns:
        The answer, or `None` if the text states none.

    Raises:
        TypeError: if `text` is not a str.
    """
    _check_str("text", text)
    matches = list(re.finditer(r"answer is:?", text, re.IGNORECASE))
    if not matches:
        return None
    rest = text[matches[-1].end():].split("\n")[0]
    answer = re.split(r"\.(?:\s|$)", rest)[0].strip().lstrip("$").strip()
    if re.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?", answer):
        answer = answer.replace(",", "")
    return answer or None


# ---- a scripted stand-in for a language model ---------------------------------------------------


class ScriptedModel:
    """A deterministic stand-in for a language model: canned replies chosen by what the prompt ends with.

    Each rule maps a *literal* piece of text to a reply (or to a list of replies, returned in turn
    and then from the start again, which imitates sampling several different continuations). For a
    prompt, the rule whose text occurs **latest** in the prompt wins; on a tie, the earlier rule.
    This suits loops whose prompt grows: the newest observation decides the next reply.

    It does not read or reason: it makes the plumbing around a model (prompt building, parsing,
    tool calls, stopping) testable with exact expectations. Every prompt it receives is kept in
    `calls`.

    Args:
        rules: `{text: reply or [replies]}`, in priority order for ties.
        default: the reply when no rule's text occurs (if `None`, that raises `ValueError`).

    Raises:
        TypeError: if a rule is not text mapped to a str or a list of str.
        ValueError: if a rule's text is empty or its list of replies is empty.
    """

    def __init__(self, rules: Mapping[str, str | Sequence[str]], default: str | None = None) -> None:
        if not isinstance(rules, Mapping):
            raise TypeError(f"rules must be a mapping from text to reply, got {type(rules).__name__}")
        self._rules: list[tuple[str, list[str]]] = []
        for key, reply in rules.items():
            _check_str("rules key", key)
            if not key:
                raise ValueError("rules keys must not be empty")
            replies = [reply] if isinstance(reply, str) else list(reply) if isinstance(reply, Sequence) else None
            if replies is None or not all(isinstance(r, str) for r in replies):
                raise TypeError(f"rules[{key!r}] must be a str or a list of str")
            if not replies:
                raise ValueError(f"rules[{key!r}] must hold at least one reply")
            self._rules.append((key, replies))
        if default is not None:
            _check_str("default", default)
        self.default = default
        self.calls: list[str] = []
        self._used = [0] * len(self._rules)

    def __call__(self, prompt: str) -> str:
        _check_str("prompt", prompt)
        self.calls.append(prompt)
        best, best_end = None, -1
        for i, (key, _) in enumerate(self._rules):
            at = prompt.rfind(key)
            if at >= 0 and at + len(key) > best_end:
                best, best_end = i, at + len(key)
        if best is None:
            if self.default is None:
                raise ValueError(f"prompt matches no rule of the ScriptedModel; it ends with {prompt[-80:]!r}")
            return self.default
        replies = self._rules[best][1]
        reply = replies[self._used[best] % len(replies)]
        self._used[best] += 1
        return reply


# ---- self-consistency ---------------------------------------------------------------------------


def majority_vote(answers: Sequence[Hashable | None]) -> tuple[Hashable | None, int]:
    """The most frequent answer and its count; `None` answers (nothing parsed) do not vote.

    $$\\hat a = \\arg\\max_a \\sum_{i=1}^{n} [\\, a_i = a \\,]$$

    Ties go to the answer that appeared first, as in `collections.Counter.most_common`.

    Returns:
        `(answer, votes)`, or `(None, 0)` if no answer was given.

    Raises:
        TypeError: if `answers` is a string or not a sequence.
    """
    if isinstance(answers, (str, bytes)) or not isinstance(answers, Sequence):
        raise TypeError(f"answers must be a sequence of answers, got {type(answers).__name__}")
    counts: dict[Hashable, int] = {}
    for a in answers:
        if a is not None:
            counts[a] = counts.get(a, 0) + 1  # insertion order = order of first appearance
    best, votes = None, 0
    for a, c in counts.items():
        if c > votes:  # strictly greater: the first of equals keeps its place
            best, votes = a, c
    return best, votes


@dataclass(frozen=True)
class SelfConsistencyResult:
    """What `self_consistency` found: the voted answer, its votes, and every sample and its answer."""

    answer: str | None
    votes: int
    answers: list[str | None]
    samples: list[str]


def self_consistency(generate: Generate, prompt: str, n_samples: int,
                     extract: Callable[[str], str | None] = extract_answer) -> SelfConsistencyResult:
    """Sample several chains of thought and return the most frequent final answer (Wang et al. 2022).

    The reasoning paths are marginalised out: only the final answers vote. `generate` must sample
    (temperature above zero); with greedy decoding every path is the same and the vote is pointless.

    Args:
        generate: the model, sampling.
        prompt: a chain-of-thought prompt.
        n_samples: how many paths to sample.
        extract: reads the final answer of one path (`None` if there is none).

    Raises:
        TypeError: if `generate` or `extract` is not callable, or an argument has the wrong type.
        ValueError: if `n_samples` < 1.
    """
    _check_callable("generate", generate)
    _check_callable("extract", extract)
    _check_str("prompt", prompt)
    _check_int("n_samples", n_samples, 1)
    samples = [_call(generate, prompt) for _ in range(n_samples)]
    answers = [extract(s) for s in samples]
    answer, votes = majority_vote(answers)
    return SelfConsistencyResult(answer, votes, answers, samples)


# ---- prompt chaining ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainStep:
    """One call in a prompt chain: a template with `{fields}` and the name its output is stored under."""

    name: str
    template: str


def run_chain(generate: Generate, steps: Sequence[ChainStep], inputs: Mapping[str, str]) -> dict[str, str]:
    """Run prompts one after the other, each filled in with the inputs and the earlier outputs.

    Step $i$ sends `template.format(**values)` to the model and stores the reply, stripped of
    surrounding whitespace, as `values[name]`. Every template is checked before the first call, so
    a missing field fails at once instead of after several paid calls.

    Returns:
        The inputs and every step's output, by name.

    Raises:
        TypeError: if `generate` is not callable or an argument has the wrong type.
        ValueError: if a template uses a field that is neither an input nor an earlier step,
            a name repeats, or there are no steps.
    """
    _check_callable("generate", generate)
    if not isinstance(inputs, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in inputs.items()):
        raise TypeError("inputs must be a mapping from str to str")
    if isinstance(steps, (str, bytes)) or not isinstance(steps, Sequence) or not all(isinstance(s, ChainStep) for s in steps):
        raise TypeError("steps must be a sequence of ChainStep")
    if not steps:
        raise ValueError("steps must hold at least one ChainStep")
    known = set(inputs)
    for step in steps:
        _check_str("ChainStep.template", step.template)
        for _, name, _, _ in string.Formatter().parse(step.template):
            if name is not None and name not in known:
                raise ValueError(f"step {step.name!r}: template field {{{name}}} is neither an input nor an earlier step")
        if step.name in known:
            raise ValueError(f"step name {step.name!r} is already used by an input or an earlier step")
        known.add(step.name)
    values = dict(inputs)
    for step in steps:
        values[step.name] = _call(generate, step.template.format(**values)).strip()
    return values


# ---- tools --------------------------------------------------------------------------------------

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}


def calculator(expression: str) -> int | float:
    """Evaluate an arithmetic expression safely, from its syntax tree, never with `eval`.

    Only numbers, `+ - * / // % **`, unary signs and parentheses are allowed; a name, call,
    attribute or anything else is refused. The result is what Python's arithmetic gives for the
    same expression (the tests compare with it), including `ZeroDivisionError`.

    Args:
        expression: such as `"(1889 - 1886) * 12"`; at most 200 characters.

    Raises:
        TypeError: if `expression` is not a str.
        ValueError: if it is not arithmetic, is too long, or raises a power above 1000 (a tool must
            not hang on `9**9**9`).
        ZeroDivisionError: on division by zero.
    """
    _check_str("expression", expression)
    if len(expression) > 200:
        raise ValueError(f"expression is longer than 200 characters ({len(expression)})")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as err:
        raise ValueError(f"expression is not valid arithmetic: {expression!r}") from err

    def ev(node: ast.AST) -> int | float:
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            left, right = ev(node.left), ev(node.right)
            if isinstance(node.op, ast.Pow) and abs(right) > 1000:
                raise ValueError(f"expression raises to the power {right}; the calculator allows at most 1000")
            return _BINARY[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return _UNARY[type(node.op)](ev(node.operand))
        raise ValueError(f"expression may only hold numbers and + - * / // % ** ( ), found {type(node).__name__}")

    return ev(tree.body)


class KnowledgeTable:
    """A small local knowledge base: titles mapped to short passages, searched like an encyclopedia.

    `search(query)` returns the passage whose title equals the query (ignoring case and surrounding
    spaces); failing that, the passage of the longest title that occurs inside the query; failing
    that, a message listing titles that share a word of four letters or more with the query, as
    ReAct's Wikipedia tool does (Yao et al. 2022).

    Args:
        entries: `{title: passage}`.

    Raises:
        TypeError: if `entries` is not a mapping from str to str.
        ValueError: if it is empty or two titles differ only in case.
    """

    def __init__(self, entries: Mapping[str, str]) -> None:
        if not isinstance(entries, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in entries.items()):
            raise TypeError("entries must be a mapping from title (str) to passage (str)")
        if not entries:
            raise ValueError("entries must not be empty")
        self.entries = dict(entries)
        self._by_key = {title.strip().casefold(): title for title in entries}
        if len(self._by_key) != len(entries):
            raise ValueError("entries has titles that differ only in case or surrounding spaces")

    def search(self, query: str) -> str:
        """The passage for `query` (see the class docstring), or a not-found message."""
        _check_str("query", query)
        key = query.strip().casefold()
        if key in self._by_key:
            return self.entries[self._by_key[key]]
        inside = [t for k, t in self._by_key.items() if re.search(rf"\b{re.escape(k)}\b", key)]
        if inside:
            return self.entries[max(inside, key=len)]
        words = set(re.findall(r"\w{4,}", key))  # words of 4 letters or more: not "of", "the"
        similar = [t for t in self.entries if words & set(re.findall(r"\w{4,}", t.casefold()))]
        return f"Could not find {query.strip()!r}. Similar: {similar}."


# ---- ReAct --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tool:
    """A function the model may call by name: `Action: name[input]`. Its result is shown as text."""

    name: str
    description: str
    function: Callable[[str], Any]


@dataclass(frozen=True)
class ReActStep:
    """One Thought/Action/Observation step. `action` is `""` when the model's reply could not be parsed."""

    thought: str
    action: str
    action_input: str
    observation: str | None = None


_STEP = re.compile(r"\A\s*Thought:[ \t]*(?P<thought>.*?)[ \t]*\nAction:[ \t]*(?P<action>\w+)\[(?P<input>[^\n]*)\][ \t]*"
                   r"(?:\nObservation:[ \t]?(?P<observation>[^\n]*))?\s*\Z", re.DOTALL)


def format_react_step(step: ReActStep) -> str:
    """The text of one step, as it appears in a ReAct prompt: `Thought: ...`, `Action: Tool[input]`, `Observation: ...`."""
    if not isinstance(step, ReActStep):
        raise TypeError(f"step must be a ReActStep, got {type(step).__name__}")
    text = f"Thought: {step.thought}\nAction: {step.action}[{step.action_input}]\n"
    return text if step.observation is None else text + f"Observation: {step.observation}\n"


def parse_react_step(text: str) -> ReActStep:
    """Read `Thought: ...` then `Action: Tool[input]` (and an optional `Observation: ...` line).

    The inverse of `format_react_step` for thoughts without an `\\nAction:` line and single-line
    inputs and observations; the tests check the round trip.

    Raises:
        TypeError: if `text` is not a str.
        ValueError: if `text` is not a Thought line followed by an Action line of the form `Name[input]`.
    """
    _check_str("text", text)
    m = _STEP.match(text)
    if m is None:
        raise ValueError(f"text is not a ReAct step ('Thought: ...' then 'Action: Tool[input]'): {text[:120]!r}")
    return ReActStep(m["thought"].strip(), m["action"], m["input"], m["observation"])


@dataclass(frozen=True)
class ReActResult:
    """What `react` did: the answer (`None` if it never finished), the steps, and the final prompt."""

    answer: str | None
    steps: list[ReActStep]
    transcript: str


def _react_header(tools: Mapping[str, Tool]) -> str:
    lines = ["Answer the question with interleaving Thought, Action and Observation steps.",
             "Thought reasons about the current situation. Action is one of:"]
    lines += [f"{name}[input]: {tool.description}" for name, tool in tools.items()]
    lines.append("Finish[answer]: returns the answer and ends the task.")
    return "\n".join(lines) + "\n"


def react(generate: Generate, question: str, tools: Sequence[Tool], *, max_steps: int = 6,
          examples: str = "") -> ReActResult:
    """Reason and act in a loop (Yao et al. 2022): Thought, Action, Observation, until `Finish[...]`.

    Each turn the prompt (instructions, `examples`, the question and every earlier step) ends with
    `Thought:` and the model writes a thought and an action. Its reply is cut at `\\nObservation:`,
    since the observation must come from the tool, never from the model. The loop runs the tool,
    appends `Observation: <result>` and asks again. `Finish[answer]` ends it. A reply that cannot be
    parsed, an unknown tool or a tool error becomes an observation saying so, and the model may
    correct itself on the next turn.

    Args:
        generate: the model.
        question: the question.
        tools: the tools the model may call; `Finish` is built in.
        max_steps: the most model calls; the answer is `None` if they run out.
        examples: worked traces placed before the question (few-shot ReAct), ending with a newline.

    Raises:
        TypeError: if an argument has the wrong type.
        ValueError: if `max_steps` < 1, or a tool is named `Finish` or twice.
    """
    _check_callable("generate", generate)
    _check_str("question", question)
    _check_str("examples", examples)
    _check_int("max_steps", max_steps, 1)
    if isinstance(tools, Mapping) or not all(isinstance(t, Tool) for t in tools):
        raise TypeError("tools must be a sequence of Tool")
    by_name = {t.name: t for t in tools}
    if len(by_name) != len(tools) or "Finish" in by_name:
        raise ValueError("tools must have distinct names, none of them 'Finish'")
    transcript = _react_header(by_name) + examples + f"Question: {question}\n"
    steps: list[ReActStep] = []
    for _ in range(max_steps):
        reply = cut_at_stop(_call(generate, transcript + "Thought:"), ["\nObservation:"])
        try:
            step = parse_react_step("Thought:" + reply)
        except ValueError:
            step = ReActStep(reply.strip(), "", "", "Invalid step. Write one 'Thought: ...' line, then 'Action: Tool[input]'.")
            steps.append(step)
            transcript += f"Thought: {step.thought}\nObservation: {step.observation}\n"
            continue
        if step.action == "Finish":
            steps.append(step)
            return ReActResult(step.action_input.strip(), steps, transcript + format_react_step(step))
        if step.action not in by_name:
            observation = f"Unknown action {step.action!r}. Use one of {[*by_name, 'Finish']}."
        else:
            try:
                observation = str(by_name[step.action].function(step.action_input))
            except Exception as err:  # noqa: BLE001 - a tool's failure is an observation the model can react to
                observation = f"Error: {type(err).__name__}: {err}"
        step = ReActStep(step.thought, step.action, step.action_input, " ".join(observation.split()))
        steps.append(step)
        transcript += format_react_step(step)
    return ReActResult(None, steps, transcript)


# ---- self-ask: multi-hop questions decomposed into follow-ups -----------------------------------

SELF_ASK_EXAMPLE = """Question: Who lived longer, Muhammad Ali or Alan Turing?
Are follow up questions needed here: Yes.
Follow up: How old was Muhammad Ali when he died?
Intermediate answer: Muhammad Ali was 74 years old when he died.
Follow up: How old was Alan Turing when he died?
Intermediate answer: Alan Turing was 41 years old when he died.
So the final answer is: Muhammad Ali
"""
"""The demonstration of self-ask, as in Press et al. (2022, figure 3)."""


@dataclass(frozen=True)
class SelfAskResult:
    """What `self_ask` did: the answer (`None` if none was given), the (follow-up, answer) hops, the final prompt."""

    answer: str | None
    hops: list[tuple[str, str]]
    transcript: str


def self_ask(generate: Generate, question: str, answer_follow_up: Callable[[str], str], *,
             examples: str = SELF_ASK_EXAMPLE, max_hops: int = 4) -> SelfAskResult:
    """Answer a multi-hop question by asking and answering follow-up questions (Press et al. 2022).

    The model decomposes the question: it writes `Follow up: <simpler question>` and stops at
    `Intermediate answer:`. The loop answers the follow-up with `answer_follow_up` (a search
    engine, a lookup table, or another model) and lets the model continue, until it writes
    `So the final answer is: ...`. Each answer can feed the next follow-up: that is the "hop".

    Args:
        generate: the model.
        question: the multi-hop question.
        answer_follow_up: answers one follow-up question.
        examples: the demonstration(s) placed first.
        max_hops: the most follow-up questions answered.

    Raises:
        TypeError: if an argument has the wrong type.
        ValueError: if `max_hops` < 0.
    """
    _check_callable("generate", generate)
    _check_callable("answer_follow_up", answer_follow_up)
    _check_str("question", question)
    _check_str("examples", examples)
    _check_int("max_hops", max_hops, 0)
    transcript = (examples.rstrip("\n") + "\n\n" if examples else "") + f"Question: {question}\nAre follow up questions needed here:"
    hops: list[tuple[str, str]] = []
    for _ in range(max_hops + 1):
        reply = cut_at_stop(_call(generate, transcript), ["\nIntermediate answer:"]).rstrip()
        transcript += reply
        final = re.search(r"So the final answer is:[ \t]*(.*)", reply)
        if final:
            return SelfAskResult(final[1].strip() or None, hops, transcript + "\n")
        follow_ups = re.findall(r"Follow up:[ \t]*(.*)", reply)
        if not follow_ups or len(hops) == max_hops:
            break
        answer = " ".join(str(answer_follow_up(follow_ups[-1].strip())).split())
        hops.append((follow_ups[-1].strip(), answer))
        transcript += f"\nIntermediate answer: {answer}\n"
    return SelfAskResult(None, hops, transcript)


# ---- tree of thoughts ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ToTResult(Generic[S]):
    """What `tree_of_thoughts` found: a solution (or `None`), the depth it was found at, and how many states were scored."""

    solution: S | None
    depth: int
    evaluated: int
    frontiers: list[list[S]] = field(default_factory=list)


def tree_of_thoughts(
    root: S,
    propose: Callable[[S], Iterable[S]],
    value: Callable[[S], float],
    is_solution: Callable[[S], bool],
    *,
    beam_width: int | None,
    max_depth: int,
) -> ToTResult[S]:
    """Breadth-first search over thoughts, keeping the best `beam_width` states per level (Yao et al. 2023).

    At each level every kept state is expanded with `propose` (the model suggests next thoughts),
    every candidate is scored with `value` (the model judges how promising it is), and if a
    candidate is a solution the best-scored one is returned; otherwise the `beam_width`
    best-scored candidates are kept (ties in proposal order):

    $$S_{t} = \\operatorname{top}_b \\Big( \\bigcup_{s \\in S_{t-1}} \\operatorname{propose}(s),\\ \\operatorname{value} \\Big)$$

    With `beam_width=None` nothing is pruned and the search is exhaustive, which is the reference
    the tests compare with.

    Args:
        root: the start state (the problem).
        propose: state -> candidate next states.
        value: state -> score (higher is more promising).
        is_solution: state -> whether it solves the problem.
        beam_width: states kept per level ($b$), or `None` for all.
        max_depth: the most levels.

    Returns:
        A `ToTResult`; `frontiers[t]` are the states kept after level `t + 1`.

    Raises:
        TypeError: if a function is not callable or a size has the wrong type.
        ValueError: if `beam_width` or `max_depth` is below 1.
    """
    for name, fn in (("propose", propose), ("value", value), ("is_solution", is_solution)):
        if not callable(fn):
            raise TypeError(f"{name} must be callable, got {type(fn).__name__}")
    if beam_width is not None:
        _check_int("beam_width", beam_width, 1)
    _check_int("max_depth", max_depth, 1)
    frontier, evaluated, frontiers = [root], 0, []
    for depth in range(1, max_depth + 1):
        candidates = [c for state in frontier for c in propose(state)]
        if not candidates:
            break
        scores = [float(value(c)) for c in candidates]
        evaluated += len(candidates)
        order = sorted(range(len(candidates)), key=lambda i: -scores[i])  # stable: ties keep proposal order
        for i in order:
            if is_solution(candidates[i]):
                return ToTResult(candidates[i], depth, evaluated, frontiers)
        frontier = [candidates[i] for i in (order if beam_width is None else order[:beam_width])]
        frontiers.append(frontier)
    return ToTResult(None, depth, evaluated, frontiers)


# ---- the Game of 24, the worked task of tree of thoughts ----------------------------------------


def _fmt(x: Fraction) -> str:
    return str(x.numerator) if x.denominator == 1 else f"{x.numerator}/{x.denominator}"


@dataclass(frozen=True)
class Game24State:
    """Numbers left in a Game of 24, with the expression that made each one and the steps so far."""

    numbers: tuple[Fraction, ...]
    expressions: tuple[str, ...]
    history: tuple[str, ...] = ()

    @classmethod
    def start(cls, numbers: Sequence[int]) -> Game24State:
        """The puzzle: use each number once with + - * / to make 24.

        Raises:
            TypeError: if `numbers` is not a sequence of ints.
            ValueError: if it is empty.
        """
        if isinstance(numbers, (str, bytes)) or not isinstance(numbers, Sequence) or not all(
                isinstance(n, int) and not isinstance(n, bool) for n in numbers):
            raise TypeError("numbers must be a sequence of int")
        if not numbers:
            raise ValueError("numbers must not be empty")
        nums = sorted(Fraction(n) for n in numbers)
        return cls(tuple(nums), tuple(_fmt(n) for n in nums))

    def left(self) -> str:
        """The numbers left, as text: `"4 9 10 13"`."""
        return " ".join(_fmt(n) for n in self.numbers)

    @property
    def expression(self) -> str:
        """The expression that makes the last number left, such as `(10 - 4) * (13 - 9)`.

        Raises:
            ValueError: if more than one number is left.
        """
        if len(self.numbers) != 1:
            raise ValueError(f"state has {len(self.numbers)} numbers left, not one")
        e = self.expressions[0]
        return e[1:-1] if e.startswith("(") and e.endswith(")") and len(self.history) > 0 else e

    @property
    def solved(self) -> bool:
        """Whether exactly one number, 24, is left."""
        return len(self.numbers) == 1 and self.numbers[0] == 24


_OPS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}


def _apply(state: Game24State, i: int, j: int, op: str) -> Game24State | None:
    a, b = state.numbers[i], state.numbers[j]
    if op == "/" and b == 0:
        return None
    c = _OPS[op](a, b)
    rest = [(n, e) for k, (n, e) in enumerate(zip(state.numbers, state.expressions)) if k not in (i, j)]
    rest.append((c, f"({state.expressions[i]} {op} {state.expressions[j]})"))
    rest.sort(key=lambda ne: ne[0])
    numbers, expressions = zip(*rest)
    left = " ".join(_fmt(n) for n in numbers)
    line = f"{_fmt(a)} {op} {_fmt(b)} = {_fmt(c)} (left: {left})"
    return Game24State(tuple(numbers), tuple(expressions), state.history + (line,))


def game24_next_states(state: Game24State) -> list[Game24State]:
    """Every state one step away: two numbers replaced by their sum, difference, product or quotient.

    Subtraction and division are tried in both orders; states that leave the same numbers are kept
    once (the first found).
    """
    if not isinstance(state, Game24State):
        raise TypeError(f"state must be a Game24State, got {type(state).__name__}")
    seen, out = set(), []
    for i, j in itertools.permutations(range(len(state.numbers)), 2):
        for op in "+-*/":
            if op in "+*" and i > j:
                continue  # commutative: one order is enough
            nxt = _apply(state, i, j, op)
            if nxt is not None and nxt.numbers not in seen:
                seen.add(nxt.numbers)
                out.append(nxt)
    return out


def solve24(numbers: Sequence[int]) -> str | None:
    """An expression that makes 24 from `numbers` by exhaustive search, or `None` if there is none."""
    stack = [Game24State.start(numbers)]
    while stack:
        state = stack.pop()
        if state.solved:
            return state.expression
        stack.extend(reversed(game24_next_states(state)))
    return None


def _numbers_after(prompt: str, label: str) -> list[Fraction]:
    lines = [ln for ln in prompt.splitlines() if ln.startswith(label)]
    if not lines:
        raise ValueError(f"prompt has no line starting with {label!r}")
    return [Fraction(t) for t in lines[-1][len(label):].split()]


def _state_from_numbers(numbers: Sequence[Fraction]) -> Game24State:
    nums = tuple(sorted(numbers))
    return Game24State(nums, tuple(_fmt(n) for n in nums))


def game24_proposer(prompt: str) -> str:
    """A stand-in for the model that proposes next steps: it lists every legal step, one per line.

    It reads the last `Input: ...` line of a `game24_propose` prompt and answers in the format
    Yao et al. (2023) prompt for, `4 + 9 = 13 (left: 10 13 13)`. A language model proposes a few
    such lines, some of them wrong; this stand-in proposes all of them, all correct. It is a
    `Generate`.
    """
    _check_str("prompt", prompt)
    state = _state_from_numbers(_numbers_after(prompt, "Input:"))
    return "\n".join(s.history[-1] for s in game24_next_states(state))


def game24_valuer(prompt: str) -> str:
    """A stand-in for the model that judges a state: `sure`, `likely` or `impossible` to reach 24.

    Like the language model of Yao et al. (2023), it is exact on one or two numbers and only guesses
    on more: with three it says `sure` if two of them and the third make 24 with `+` and `*` alone
    (the combinations one tries first); with three or more it says `impossible` when the numbers
    are too small to reach 24 even by multiplying everything above 1 and adding the rest, and
    `likely` otherwise. It reads the
    last `Numbers:` line of a `game24_value` prompt. It is a `Generate`.
    """
    _check_str("prompt", prompt)
    numbers = _numbers_after(prompt, "Numbers:")
    if len(numbers) == 1:
        return "sure" if numbers[0] == 24 else "impossible"
    if len(numbers) == 2:
        a, b = numbers
        made = {a + b, a - b, b - a, a * b} | ({a / b} if b else set()) | ({b / a} if a else set())
        return "sure" if 24 in made else "impossible"
    if len(numbers) == 3 and any(_easy24(numbers[i], numbers[j], numbers[3 - i - j])
                                 for i, j in ((0, 1), (0, 2), (1, 2))):
        return "sure"  # 24 with + and * alone: the combinations a model checks first
    big = [n for n in numbers if n > 1]
    small = sum(n for n in numbers if n <= 1)
    reach = (math.prod(big) if big else 0) + max(small, 0)
    return "impossible" if reach < 24 else "likely"


def _easy24(a: Fraction, b: Fraction, c: Fraction) -> bool:
    return any(f(g(a, b), c) == 24 for f in (operator.add, operator.mul) for g in (operator.add, operator.mul))


_STEP24 = re.compile(r"^\s*(?P<a>-?\d+(?:/\d+)?) (?P<op>[-+*/]) (?P<b>-?\d+(?:/\d+)?) = (?P<c>-?\d+(?:/\d+)?)"
                     r" \(left: (?P<left>[^)]*)\)\s*$")
VALUE_MAP = {"sure": 20.0, "likely": 1.0, "impossible": 0.001}
"""Scores for the judge's words, as in Yao et al.'s code for the Game of 24."""


def game24_propose(generate: Generate) -> Callable[[Game24State], list[Game24State]]:
    """Turn a model into ToT's `propose`: ask for next steps, keep only those that are correct.

    The prompt is `Input: <numbers left>` then `Possible next steps:`. Each reply line must read
    `a op b = c (left: ...)`; a line is kept only if `a` and `b` are among the numbers left and `c`
    and the numbers left are what exact arithmetic (with fractions) gives. Wrong arithmetic from a model is
    dropped here, not searched.
    """
    _check_callable("generate", generate)

    def propose(state: Game24State) -> list[Game24State]:
        reply = _call(generate, f"Input: {state.left()}\nPossible next steps:\n")
        out, seen = [], set()
        for line in reply.splitlines():
            m = _STEP24.match(line)
            if m is None:
                continue
            a, b = Fraction(m["a"]), Fraction(m["b"])
            try:
                i = state.numbers.index(a)
                j = next(k for k, n in enumerate(state.numbers) if n == b and k != i)
            except (ValueError, StopIteration):
                continue  # uses a number that is not there
            nxt = _apply(state, i, j, m["op"])  # recomputes a op b exactly, with fractions
            if nxt is None or nxt.history[-1] != line.strip():
                continue  # wrong arithmetic, or wrong numbers left
            if nxt.numbers not in seen:
                seen.add(nxt.numbers)
                out.append(nxt)
        return out

    return propose


def game24_value(generate: Generate) -> Callable[[Game24State], float]:
    """Turn a model into ToT's `value`: ask whether the numbers left can make 24, map the last word to a score."""
    _check_callable("generate", generate)

    def value(state: Game24State) -> float:
        reply = _call(generate, f"Evaluate if the numbers can reach 24 (sure/likely/impossible).\nNumbers: {state.left()}\n")
        words = re.findall(r"[a-z]+", reply.lower())
        return VALUE_MAP.get(words[-1], 0.0) if words else 0.0

    return value


def game24_search(numbers: Sequence[int], propose_model: Generate = game24_proposer,
                  value_model: Generate = game24_valuer, *, beam_width: int | None = 5) -> ToTResult[Game24State]:
    """Tree of thoughts on one Game of 24 puzzle: three levels of propose, value, keep the best `beam_width`."""
    root = Game24State.start(numbers)
    return tree_of_thoughts(root, game24_propose(propose_model), game24_value(value_model),
                            lambda s: s.solved, beam_width=beam_width, max_depth=len(root.numbers) - 1)


# ---- a transformers model as a Generate ---------------------------------------------------------


def char_codec(alphabet: str, unknown: str = "?") -> tuple[Callable[[str], list[int]], Callable[[list[int]], str]]:
    """`(encode, decode)` for a character vocabulary: character $i$ of `alphabet` is token $i$.

    Characters outside the alphabet are encoded as `unknown`, which must be in it.

    Raises:
        TypeError: if an argument is not a str.
        ValueError: if `alphabet` repeats a character or lacks `unknown`.
    """
    _check_str("alphabet", alphabet)
    _check_str("unknown", unknown)
    if len(set(alphabet)) != len(alphabet):
        raise ValueError("alphabet must not repeat a character")
    if len(unknown) != 1 or unknown not in alphabet:
        raise ValueError(f"unknown must be one character of the alphabet, got {unknown!r}")
    stoi = {ch: i for i, ch in enumerate(alphabet)}

    def encode(text: str) -> list[int]:
        return [stoi.get(ch, stoi[unknown]) for ch in text]

    def decode(ids: list[int]) -> str:
        return "".join(alphabet[i] for i in ids)

    return encode, decode


def transformers_generate(model: Any, encode: Callable[[str], list[int]], decode: Callable[[list[int]], str], *,
                          max_new_tokens: int = 32, do_sample: bool = False, temperature: float = 1.0) -> Generate:
    """Wrap a `transformers` causal language model as a `Generate`.

    The prompt is encoded, cropped on the left to fit the model's context (`n_positions` or
    `max_position_embeddings`, less `max_new_tokens`), passed to `model.generate`, and only the new
    tokens are decoded. Sampling draws from PyTorch's global random generator: seed it
    (`torch.manual_seed`) for repeatable samples.

    Args:
        model: a `transformers` model with `generate` (such as `GPT2LMHeadModel`), in eval mode.
        encode: text -> token ids.
        decode: token ids -> text.
        max_new_tokens: how many tokens to generate per call.
        do_sample: sample instead of greedy decoding.
        temperature: the sampling temperature (used only when `do_sample`).

    Raises:
        TypeError: if `model` has no `generate` or an argument has the wrong type.
        ValueError: if `max_new_tokens` < 1, the context cannot hold it, or `temperature` <= 0.
    """
    import torch

    if not callable(getattr(model, "generate", None)):
        raise TypeError(f"model must have a generate method (a transformers model), got {type(model).__name__}")
    _check_callable("encode", encode)
    _check_callable("decode", decode)
    _check_int("max_new_tokens", max_new_tokens, 1)
    if not isinstance(do_sample, bool):
        raise TypeError(f"do_sample must be a bool, got {type(do_sample).__name__}")
    if not isinstance(temperature, (int, float)) or isinstance(temperature, bool) or not temperature > 0:
        raise ValueError(f"temperature must be a number > 0, got {temperature!r}")
    config = model.config
    context = getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings", None)
    if context is not None and context <= max_new_tokens:
        raise ValueError(f"max_new_tokens ({max_new_tokens}) leaves no room for a prompt in a context of {context}")
    keep = None if context is None else context - max_new_tokens
    options: dict[str, Any] = {"max_new_tokens": max_new_tokens, "do_sample": do_sample}
    if do_sample:
        options.update(temperature=float(temperature), top_k=0, top_p=1.0)  # plain sampling, nothing filtered
    pad = getattr(config, "pad_token_id", None)
    pad = getattr(config, "eos_token_id", None) if pad is None else pad
    options["pad_token_id"] = 0 if pad is None else pad

    def generate(prompt: str) -> str:
        _check_str("prompt", prompt)
        ids = list(encode(prompt))
        if keep is not None:
            ids = ids[-keep:]  # the model reads at most its context; the start of a long prompt is lost
        if not ids:
            raise ValueError("prompt encodes to no tokens")
        input_ids = torch.tensor([ids], device=model.device)
        with torch.no_grad():
            out = model.generate(input_ids, attention_mask=torch.ones_like(input_ids), **options)
        return decode(out[0, len(ids):].tolist())

    return generate
