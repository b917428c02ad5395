"""genai_guide.agents: tool schemas against transformers' get_json_schema, argument checks against
jsonschema, tool-call parsing, and the agent loop's stop conditions and error observations.

`function_schema` must equal `transformers.utils.get_json_schema` on many functions (every kind of
type hint it converts, docstrings with multi-line and typed argument descriptions, choices, returns,
methods), and refuse what it refuses. `validate_arguments` must agree with `jsonschema`'s
Draft 2020-12 validator on random values for every schema of those functions. `run_agent` must turn
an unknown tool, a malformed call, invalid arguments and a tool that raises into observations, and stop
at each budget.
"""

from __future__ import annotations

import enum
import json
import random
from typing import Any, Literal

import jsonschema
import pytest
from transformers.utils import get_json_schema

from genai_guide.agents import (
    ToolCall,
    ToolCallError,
    ToolRegistry,
    function_schema,
    knowledge_base_tools,
    parse_docstring,
    parse_tool_calls,
    run_agent,
    validate_arguments,
)


class Colour(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


def f_basic(a: int, b: float, c: str, d: bool) -> None:
    """Four basic types.

    Args:
        a: an int.
        b: a float.
        c: a string.
        d: a flag.
    """


def f_defaults(query: str, k: int = 3, exact: bool = False) -> list[str]:
    """Search something.

    A second paragraph of description.

    Args:
        query: what to look for,
            on two lines.
        k: how many.
        exact (bool): whether to match exactly.

    Returns:
        The matches.
    """
    return []


def f_containers(xs: list[int], pair: tuple[int, str], table: dict[str, float], raw: list, anything: Any,
                 nested: list[list[str]], mapping: dict) -> dict[str, int]:
    """Containers.

    Args:
        xs: numbers.
        pair: a pair.
        table: a table.
        raw: a bare list.
        anything: any value.
        nested: a list of lists.
        mapping: a bare dict.
    """
    return {}


def f_unions(a: int | None, b: str | None, c: int | str, d: int | str | None, e: list[int] | None,
             f: list[int] | str, g: float) -> None:
    """Unions.

    Args:
        a: maybe an int.
        b: maybe a string.
        c: an int or a string.
        d: int, string or nothing.
        e: maybe a list.
        f: a list or a string.
        g: a number.
    """


def f_enums(colour: Colour, level: Level, mode: Literal["fast", "slow"], mixed: Literal[1, "a", True],
            pick: str = "tea") -> str:
    """Enumerations.

    Args:
        colour: a colour.
        level: a level.
        mode: how fast.
        mixed: a mixed literal.
        pick: a drink (choices: ["tea", "coffee"])
    """
    return pick


def f_no_return_doc(x: float) -> float:
    """Only args.

    Args:
        x: a number.
    """
    return x


def f_only_args(x: int):
    """
    Args:
        x: a number with no description above.
    """


def f_custom_return(x: int) -> Colour:
    """A return type that converts.

    Args:
        x: a number.

    Returns:
        A colour.
    """
    return Colour.RED


def f_bad_return(x: int) -> set:
    """A return type that does not convert, left out.

    Args:
        x: a number.

    Raises:
        ValueError: never.
    """
    return set()


def f_no_args() -> str:
    """Nothing to pass."""
    return ""


class Shop:
    def buy(self, item: str, count: int = 1) -> float:
        """Buy something.

        Args:
            item: what to buy.
            count: how many.
        """
        return 1.0

    @classmethod
    def open(cls, hour: int) -> bool:
        """Open the shop.

        Args:
            hour: when.
        """
        return True


GOOD = [f_basic, f_defaults, f_containers, f_unions, f_enums, f_no_return_doc, f_custom_return,
        f_bad_return, f_no_args, Shop().buy, Shop.buy, Shop.open] + knowledge_base_tools()


@pytest.mark.parametrize("func", GOOD, ids=lambda f: f.__name__)
def test_schema_equals_get_json_schema(func):
    assert function_schema(func) == get_json_schema(func)


def f_no_doc(x: int) -> int:
    return x


def f_no_hint(x, y: int) -> int:
    """Missing hint.

    Args:
        x: a.
        y: b.
    """
    return y


def f_missing_description(x: int, y: int) -> int:
    """Missing description.

    Args:
        x: a.
    """
    return x


def f_set(x: set) -> None:
    """A set has no JSON schema.

    Args:
        x: a set.
    """


def f_tuple1(x: tuple[int]) -> None:
    """A one-element tuple.

    Args:
        x: a tuple.
    """


def f_tuple_var(x: tuple[int, ...]) -> None:
    """A variable tuple.

    Args:
        x: a tuple.
    """


@pytest.mark.parametrize(("func", "names"), [(f_no_doc, "docstring"), (f_no_hint, "'x'"),
                                             (f_missing_description, "'y'"), (f_set, "'x'"),
                                             (f_tuple1, "'x'"), (f_tuple_var, "'x'"),
                                             (f_only_args, "'x'")],
                         ids=lambda v: getattr(v, "__name__", str(v)))
def test_schema_refuses_what_transformers_refuses(func, names):
    with pytest.raises(Exception):  # noqa: B017 - transformers raises its own exception types
        get_json_schema(func)
    with pytest.raises(ValueError, match=names):
        function_schema(func)
    with pytest.raises(TypeError, match="func"):
        function_schema(42)


def test_parse_docstring_parts():
    desc, args, returns = parse_docstring(f_defaults.__doc__.strip())
    assert desc.startswith("Search something.") and "second paragraph" in desc
    assert args == {"query": "what to look for, on two lines.", "k": "how many.",
                    "exact": "whether to match exactly."}
    assert returns == "The matches."
    with pytest.raises(TypeError, match="docstring"):
        parse_docstring(None)


# ---- validate_arguments against jsonschema --------------------------------------------------------

def _to_standard(schema: Any) -> Any:
    """OpenAPI's "nullable" written as standard JSON Schema, for jsonschema."""
    if isinstance(schema, list):
        return [_to_standard(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _to_standard(v) for k, v in schema.items() if k != "nullable"}
    if schema.get("nullable"):
        out = {"anyOf": [out, {"type": "null"}]}
    return out


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    pool = [None, True, False, 0, 1, 3, -2, 2.0, 2.5, "", "red", "tea", "fast", "a", "coffee"]
    kind = rng.random()
    if depth < 2 and kind < 0.15:
        return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if depth < 2 and kind < 0.25:
        return {rng.choice(["x", "y", "k"]): _random_value(rng, depth + 1) for _ in range(rng.randint(0, 2))}
    return rng.choice(pool)


def _sample(schema: dict, rng: random.Random) -> Any:
    """A value that usually fits `schema` (a random one 15% of the time)."""
    if rng.random() < 0.15:
        return _random_value(rng)
    if schema.get("nullable") and rng.random() < 0.2:
        return None
    if "enum" in schema:
        return rng.choice(schema["enum"])
    if "anyOf" in schema:
        return _sample(rng.choice(schema["anyOf"]), rng)
    kind = schema.get("type")
    kind = rng.choice(kind) if isinstance(kind, list) else kind
    if kind == "array":
        if "prefixItems" in schema:
            return [_sample(s, rng) for s in schema["prefixItems"]]
        return [_sample(schema.get("items", {}), rng) for _ in range(rng.randint(0, 3))]
    if kind == "object":
        return {k: _sample(schema.get("additionalProperties", {}), rng) for k in rng.sample("xyz", rng.randint(0, 2))}
    simple = {"integer": [0, 3, -1, 2.0], "number": [1.5, 2, -0.25], "string": ["", "bell"],
              "boolean": [True, False], "null": [None]}
    return rng.choice(simple[kind]) if kind in simple else _random_value(rng)


@pytest.mark.parametrize("func", GOOD, ids=lambda f: f.__name__)
def test_validate_arguments_agrees_with_jsonschema(func):
    params = function_schema(func)["function"]["parameters"]
    standard = {**_to_standard(params), "additionalProperties": False}
    validator = jsonschema.Draft202012Validator(standard)
    rng = random.Random(0)
    outcomes = set()
    for _ in range(400):
        args = {n: _sample(s, rng) for n, s in params["properties"].items() if rng.random() < 0.95}
        if rng.random() < 0.05:
            args["unexpected"] = 1
        ours = validate_arguments(args, params)
        assert (ours == []) == validator.is_valid(args), (args, ours)
        outcomes.add(ours == [])
    assert outcomes == {True, False}  # both valid and invalid calls were tried


def test_validate_arguments_messages():
    params = function_schema(f_defaults)["function"]["parameters"]
    assert validate_arguments({"query": "bell"}, params) == []
    assert validate_arguments({"query": "bell", "k": 2.0}, params) == []  # JSON Schema: 2.0 is an integer
    assert validate_arguments({"k": 2}, params) == ["arguments is missing the required argument 'query'"]
    assert validate_arguments({"query": "x", "k": "three"}, params) == [
        "arguments.k must be of type integer, got 'three'"]
    assert validate_arguments({"query": "x", "k": True}, params)  # true is not a number
    assert validate_arguments({"query": "x", "limit": 3}, params) == ["arguments has an unexpected argument 'limit'"]
    assert validate_arguments(["x"], params) == ["arguments must be an object, got ['x']"]
    with pytest.raises(TypeError, match="parameters"):
        validate_arguments({}, "schema")
    with pytest.raises(ValueError, match="image"):
        validate_arguments({"x": 1}, {"type": "object", "properties": {"x": {"type": "image"}}})


# ---- parsing tool calls ----------------------------------------------------------------------------

def test_parse_tool_calls():
    text = ('Let me look.\n<tool_call>\n{"name": "search", "arguments": {"query": "bell"}}\n</tool_call>\n'
            '<tool_call>{"name": "calculate", "arguments": "{\\"expression\\": \\"1+1\\"}"}</tool_call>')
    content, calls = parse_tool_calls(text)
    assert content == "Let me look."
    assert calls == [ToolCall("search", {"query": "bell"}), ToolCall("calculate", {"expression": "1+1"})]
    assert parse_tool_calls("  The answer is 4. ") == ("The answer is 4.", [])
    assert parse_tool_calls('<tool_call>{"name": "f"}</tool_call>') == ("", [ToolCall("f", {})])


@pytest.mark.parametrize(("text", "message"), [
    ('<tool_call>{"name": "search", "arguments": {"query": "bell"}</tool_call>', "not valid JSON"),
    ('<tool_call>["search"]</tool_call>', "JSON object"),
    ('<tool_call>{"arguments": {}}</tool_call>', "name"),
    ('<tool_call>{"name": "f", "arguments": [1]}</tool_call>', "arguments"),
    ('<tool_call>{"name": "f", "arguments": "{oops"}</tool_call>', "not JSON"),
    ('<tool_call>{"name": "search", "arguments": {}}', "not closed"),
])
def test_parse_tool_calls_malformed(text, message):
    with pytest.raises(ToolCallError, match=message):
        parse_tool_calls(text)
    assert issubclass(ToolCallError, ValueError)
    with pytest.raises(TypeError, match="text"):
        parse_tool_calls(None)


# ---- the registry ----------------------------------------------------------------------------------

def boom(x: int) -> int:
    """Always fails.

    Args:
        x: anything.
    """
    raise RuntimeError(f"the tool broke on {x}")


def test_registry_validation():
    search, read_passage, calculate = knowledge_base_tools()
    with pytest.raises(ValueError, match="two tools named 'search'"):
        ToolRegistry([search, search])
    with pytest.raises(ValueError, match="empty"):
        ToolRegistry([])
    with pytest.raises(TypeError, match=r"tools\[1\]"):
        ToolRegistry([search, "calculate"])
    with pytest.raises(TypeError, match="tools"):
        ToolRegistry(search)
    with pytest.raises(ValueError, match="'x'"):
        ToolRegistry([f_no_hint])
    with pytest.raises(ValueError, match="docstring"):
        ToolRegistry([f_no_doc])
    registry = ToolRegistry([search, read_passage, calculate])
    assert registry.names == ["search", "read_passage", "calculate"]
    with pytest.raises(TypeError, match="call"):
        registry.execute({"name": "search"})


def test_registry_execute_results_and_errors():
    registry = ToolRegistry([*knowledge_base_tools(), boom])
    hits = json.loads(registry.execute(ToolCall("search", {"query": "harbour dues yacht", "k": 2}))["content"])
    assert hits[0]["id"] == "p12" and len(hits) == 2
    assert registry.execute(ToolCall("calculate", {"expression": "8 * 5"})) == {
        "role": "tool", "name": "calculate", "content": "40"}
    assert registry.execute(ToolCall("read_passage", {"passage_id": "p12"}))["content"].startswith("Harbour dues.")
    unknown = registry.execute(ToolCall("weather", {}))["content"]
    assert unknown.startswith("error: unknown tool 'weather'") and "search, read_passage" in unknown
    bad = registry.execute(ToolCall("search", {"query": 7}))["content"]
    assert bad == "error: invalid arguments for search: arguments.query must be of type string, got 7"
    assert registry.execute(ToolCall("boom", {"x": 3}))["content"] == \
        "error: boom raised RuntimeError: the tool broke on 3"
    assert registry.execute(ToolCall("read_passage", {"passage_id": "p99"}))["content"].startswith(
        "error: read_passage raised ValueError")
    assert registry.execute(ToolCall("calculate", {"expression": "1/0"}))["content"].startswith(
        "error: calculate raised ZeroDivisionError")
    assert registry.execute(ToolCall("search", {"query": "x", "k": 50}))["content"].startswith(
        "error: search raised ValueError: k must be between 1 and 10")


# ---- the agent loop --------------------------------------------------------------------------------

def _call(name: str, **arguments: Any) -> str:
    return f"<tool_call>\n{json.dumps({'name': name, 'arguments': arguments})}\n</tool_call>"


class Replay:
    """A policy that returns canned replies in order and keeps what it saw."""

    def __init__(self, replies: list[str]) -> None:
        self.replies, self.seen = list(replies), []

    def __call__(self, messages):
        self.seen.append(messages)
        return self.replies[len(self.seen) - 1]


def test_agent_reaches_a_final_answer():
    policy = Replay([_call("search", query="harbour dues yacht"), _call("read_passage", passage_id="p12"),
                     _call("calculate", expression="8 * 5"), "40 crowns [p12]."])
    result = run_agent(policy, "What does a yacht pay for five nights?", knowledge_base_tools())
    assert result.answer == "40 crowns [p12]." and result.stop_reason == "final_answer"
    assert result.steps == 4 and result.errors == []
    roles = [m["role"] for m in result.messages]
    assert roles == ["user", "assistant", "tool", "assistant", "tool", "assistant", "tool", "assistant"]
    assert result.messages[1]["tool_calls"] == [
        {"type": "function", "function": {"name": "search", "arguments": {"query": "harbour dues yacht"}}}]
    assert result.messages[6]["content"] == "40"
    assert policy.seen[3][-1] == result.messages[6]  # the policy saw the observation before answering
    assert result.tokens == sum(len(r.split()) for r in policy.replies)


@pytest.mark.parametrize(("reply", "expected"), [
    (_call("weather", city="Holm"), "error: unknown tool 'weather'"),
    ('<tool_call>{"name": "search", "arguments": {"query": "bell"</tool_call>', "error: malformed tool call"),
    (_call("search", query=["bell"]), "error: invalid arguments for search"),
    (_call("search"), "error: invalid arguments for search: arguments is missing the required argument 'query'"),
    (_call("boom", x=1), "error: boom raised RuntimeError"),
    (_call("read_passage", passage_id="p99"), "error: read_passage raised ValueError"),
])
def test_each_error_is_an_observation_and_the_loop_goes_on(reply, expected):
    policy = Replay([reply, "I could not find it."])
    result = run_agent(policy, "question", [*knowledge_base_tools(), boom])
    assert result.stop_reason == "final_answer" and result.answer == "I could not find it."
    assert len(result.errors) == 1 and result.errors[0].startswith(expected)
    assert result.messages[2]["role"] == "tool" and result.messages[2]["content"] == result.errors[0]
    assert policy.seen[1][-1]["content"].startswith(expected)  # the model reads its mistake


def test_budgets():
    forever = Replay([_call("calculate", expression="1 + 1")] * 20)
    result = run_agent(forever, "loop", knowledge_base_tools(), max_steps=3)
    assert (result.stop_reason, result.steps, result.answer) == ("max_steps", 3, None)
    assert sum(m["role"] == "tool" for m in result.messages) == 3

    result = run_agent(Replay([_call("calculate", expression="1 + 1")] * 20), "loop", knowledge_base_tools(),
                       max_tokens=10)  # each reply is 9 words: over budget after the second
    assert (result.stop_reason, result.steps, result.tokens) == ("max_tokens", 2, 18)
    assert result.messages[-1]["role"] == "assistant"  # the over-budget call was not run

    ticks = iter(range(100))
    result = run_agent(Replay([_call("calculate", expression="1 + 1")] * 20), "loop", knowledge_base_tools(),
                       max_seconds=2.5, clock=lambda: float(next(ticks)))
    assert (result.stop_reason, result.steps) == ("max_seconds", 2)

    result = run_agent(Replay(["done"]), "q", knowledge_base_tools(), max_steps=1, max_tokens=1, max_seconds=1)
    assert (result.stop_reason, result.answer) == ("final_answer", "done")  # an answer within budget stands


def test_run_agent_input_validation():
    tools = knowledge_base_tools()
    with pytest.raises(TypeError, match="policy"):
        run_agent("model", "q", tools)
    with pytest.raises(TypeError, match="messages"):
        run_agent(Replay(["a"]), 42, tools)
    with pytest.raises(ValueError, match="max_steps"):
        run_agent(Replay(["a"]), "q", tools, max_steps=0)
    with pytest.raises(ValueError, match="max_tokens"):
        run_agent(Replay(["a"]), "q", tools, max_tokens=0)
    with pytest.raises(ValueError, match="max_seconds"):
        run_agent(Replay(["a"]), "q", tools, max_seconds=0)
    with pytest.raises(ValueError, match="two tools"):
        run_agent(Replay(["a"]), "q", [tools[0], tools[0]])
    with pytest.raises(TypeError, match="must return a str"):
        run_agent(lambda m: None, "q", tools)
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "q"}]
    result = run_agent(Replay(["a"]), messages, tools)
    assert result.messages[:2] == messages and messages == [{"role": "system", "content": "Be brief."},
                                                             {"role": "user", "content": "q"}]


# ---- the chat template -----------------------------------------------------------------------------

def test_tool_chat_template_renders_schemas_and_round_trips_calls():
    from genai_guide.agents import TOOL_CHAT_TEMPLATE
    from genai_guide.chat_formats import tiny_chat_tokenizer

    tok = tiny_chat_tokenizer(["harbour dues"], chat_template=TOOL_CHAT_TEMPLATE)
    tools = knowledge_base_tools()
    call = ToolCall("search", {"query": "dues \"yacht\"", "k": 2})
    messages = [{"role": "user", "content": "Dues?"},
                {"role": "assistant", "content": "", "tool_calls": [call.as_message_entry()]},
                {"role": "tool", "name": "search", "content": "[]"}]
    text = tok.apply_chat_template(messages, tools=tools, tokenize=False, add_generation_prompt=True)
    for tool in tools:  # functions are converted by get_json_schema, equal to ours
        assert json.dumps(function_schema(tool), ensure_ascii=False) in text
    assert text == tok.apply_chat_template(messages, tools=ToolRegistry(tools).schemas, tokenize=False,
                                           add_generation_prompt=True)
    assert text.endswith("<|im_start|>user\n<tool_response>\n[]\n</tool_response><|im_end|>\n"
                         "<|im_start|>assistant\n")
    turn = text.split("<|im_start|>assistant")[1].split("<|im_end|>")[0]
    assert parse_tool_calls(turn) == ("", [call])  # what the template writes, the parser reads
    plain = tok.apply_chat_template(messages[:1], tokenize=False)
    assert plain == "<|im_start|>user\nDues?<|im_end|>\n"  # no tools, no tool section
