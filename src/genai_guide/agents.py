"""Tools and agents: function calling and the agent loop, written to be read.

The chapter [Tools and agents](../../retrieval/agents.md) explains each piece.

- **Tool schemas.** `function_schema` turns a Python function with type hints and a Google-style
  docstring into the JSON schema a chat template shows the model, equal to `transformers`'
  `get_json_schema` (the tests compare them on many functions).
- **Tools in the prompt.** `TOOL_CHAT_TEMPLATE` is a ChatML chat template with a tool section
  modelled on Qwen2.5's: `tokenizer.apply_chat_template(messages, tools=[...])` writes the
  schemas into the system turn, assistant `tool_calls` as tagged JSON and `tool` messages as
  `<tool_response>` blocks.
- **Tool calls.** `parse_tool_calls` reads the calls a model wrote as JSON between
  `<tool_call>` and `</tool_call>` tags (the format of Qwen2.5's and Hermes' chat templates);
  `validate_arguments` checks a call's arguments against the schema (the keywords
  `get_json_schema` emits, with `jsonschema`'s meaning); `ToolRegistry.execute` runs a call and
  returns the result as a `tool` message.
- **The agent loop.** `run_agent` asks a policy (the language model, or a stand-in) for the next
  message, runs the tools it calls, appends their results and asks again, until the policy answers
  without a tool call or a budget (steps, generated tokens, seconds) runs out. An unknown tool, a
  malformed call, bad arguments or a tool that raises becomes an observation the policy reads,
  never an exception out of the loop (Yao et al. 2022, ReAct; Schick et al. 2023, Toolformer).
- **Tools over the book's index.** `knowledge_base_tools` makes `search` (BM25 over the harbour
  guide), `read_passage` and `calculate` (the safe calculator of `genai_guide.prompting`).
"""

from __future__ import annotations

import enum
import inspect
import json
import re
import time
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Union

from genai_guide._checks import check_int as _check_int

__all__ = [
    "TOOL_CHAT_TEMPLATE",
    "AgentResult",
    "Policy",
    "ToolCall",
    "ToolCallError",
    "ToolRegistry",
    "function_schema",
    "knowledge_base_tools",
    "parse_docstring",
    "parse_tool_calls",
    "run_agent",
    "validate_arguments",
    "word_count",
]

Message = dict[str, Any]
Policy = Callable[[list[Message]], str]
"""The model seen from the loop: the conversation so far in, the next assistant message's text out."""

# ---- JSON schemas from Python functions ---------------------------------------------------------

_SCALARS = {int: "integer", float: "number", str: "string", bool: "boolean", type(None): "null"}
_BARE = {int: {"type": "integer"}, float: {"type": "number"}, str: {"type": "string"},
         bool: {"type": "boolean"}, type(None): {"type": "null"}, list: {"type": "array"},
         tuple: {"type": "array"}, dict: {"type": "object"}}

# The description is everything before the first section; "Args:" holds "name: text" items,
# each ending where a line at the same or a smaller indent starts the next "name:".
_DESCRIPTION = re.compile(r"^(.*?)[\n\s]*(Args:|Returns:|Raises:|\Z)", re.DOTALL)
_ARGS = re.compile(r"\n\s*Args:\n(.*?)[\n\s]*(Returns:|Raises:|\Z)", re.DOTALL)
_ARG_ITEM = re.compile(
    r"(?:^|\n)([ \t]*)(\w+)(?:[ \t]*\([^()\n]*\))?:\s*(.*?)\s*"
    r"(?=\n(?!\1[ \t])[ \t]*\w+(?:[ \t]*\([^()\n]*\))?:|\Z)", re.DOTALL)
_RETURNS = re.compile(r"\n\s*Returns:\n\s*(.*?)[\n\s]*(Raises:|\Z)", re.DOTALL)
_CHOICES = re.compile(r"\(choices:\s*(.*?)\)\s*$", re.IGNORECASE)


def parse_docstring(docstring: str) -> tuple[str | None, dict[str, str], str | None]:
    """Split a Google-style docstring into its description, argument descriptions and return text.

    ```text
    Search the harbour guide.       <- description: everything before the first section

    Args:                           <- one "name: text" item per argument; a longer text goes on
        query: words to look for.      indented lines, which are joined with single spaces
        k: how many passages.
    Returns:                        <- the return text (most chat templates ignore it)
        The best passages.
    ```

    Args:
        docstring: the docstring, already dedented (`inspect.getdoc`).

    Returns:
        `(description, {argument: description}, returns)`; a missing part is `None` (`{}` for
        the arguments).

    Raises:
        TypeError: if `docstring` is not a str.
    """
    if not isinstance(docstring, str):
        raise TypeError(f"docstring must be a str, got {type(docstring).__name__}")
    description = _DESCRIPTION.search(docstring)
    args = _ARGS.search(docstring)
    returns = _RETURNS.search(docstring)
    arguments: dict[str, str] = {}
    if args is not None:
        block = "\n".join(line for line in args.group(1).split("\n") if line.strip())
        arguments = {m[1]: re.sub(r"\s*\n+\s*", " ", m[2].strip()) for m in _ARG_ITEM.findall(block)}
    return (description.group(1).strip() if description else None, arguments,
            returns.group(1).strip() if returns else None)


def _enum_schema(values: list[Any]) -> dict[str, Any]:
    kinds = list(dict.fromkeys(_SCALARS[type(v)] for v in values))  # each JSON type once, first seen first
    return {"type": kinds[0] if len(kinds) == 1 else kinds, "enum": values}


def _type_schema(hint: Any, where: str) -> dict[str, Any]:
    """The JSON schema of one type hint, as `get_json_schema` writes it."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is None and isinstance(hint, type) and issubclass(hint, enum.Enum):
        values = [member.value for member in hint]
        if not values or any(type(v) not in _SCALARS for v in values):
            raise ValueError(f"{where}: the Enum {hint.__name__} must have members with int, float, str, bool "
                             "or None values")
        return _enum_schema(values)
    if origin is None:
        if hint is Any:
            return {}
        if hint in _BARE:
            return dict(_BARE[hint])
        raise ValueError(f"{where}: cannot write the type hint {hint!r} as a JSON schema; use int, float, str, "
                         "bool, None, Enum, Literal, and list, tuple, dict and unions of those")
    if origin is Union or origin is types.UnionType:
        subtypes = [_type_schema(t, where) for t in args if t is not type(None)]
        if len(subtypes) == 1:
            out = subtypes[0]
        elif all(s.keys() == {"type"} and isinstance(s["type"], str) for s in subtypes):
            names = sorted({s["type"] for s in subtypes})  # a union of plain types: a list of type names
            out = {"type": names[0] if len(names) == 1 else names}
        else:
            out = {"anyOf": subtypes}
        if type(None) in args:
            out["nullable"] = True  # OpenAPI's way of saying "or null", which get_json_schema uses
        return out
    if origin is Literal and args:
        if any(type(a) not in _SCALARS for a in args):
            raise ValueError(f"{where}: Literal values must be int, float, str, bool or None")
        return _enum_schema(list(args))
    if origin is list:
        return {"type": "array", "items": _type_schema(args[0], where)} if args else {"type": "array"}
    if origin is tuple:
        if not args:
            return {"type": "array"}
        if len(args) == 1 or ... in args:
            raise ValueError(f"{where}: use list[...] for a tuple of one or of any length ({hint!r})")
        return {"type": "array", "prefixItems": [_type_schema(t, where) for t in args]}
    if origin is dict:
        out = {"type": "object"}
        if len(args) == 2:
            out["additionalProperties"] = _type_schema(args[1], where)  # JSON keys are always strings
        return out
    raise ValueError(f"{where}: cannot write the type hint {hint!r} as a JSON schema")


def function_schema(func: Callable[..., Any]) -> dict[str, Any]:
    """The tool schema of a Python function, equal to `transformers.utils.get_json_schema(func)`.

    Everything comes from the function itself: the name from `__name__`, the description and each
    argument's description from its Google-style docstring (`parse_docstring`), each argument's
    JSON type from its type hint, and `required` from the arguments without a default:

    | Python hint | JSON schema |
    |---|---|
    | `int`, `float`, `str`, `bool`, `None` | `integer`, `number`, `string`, `boolean`, `null` |
    | `list[T]`, `tuple[A, B]`, `dict[str, T]` | `array` with `items`, `prefixItems`; `object` with `additionalProperties` |
    | `Literal[...]`, an `Enum` | `enum` of the values, with their JSON type(s) |
    | `A \\| B`, `Optional[A]` | a list of types, or `anyOf`; `"nullable": true` when `None` is allowed |

    An argument description ending in `(choices: [...])` (JSON) becomes an `enum`. A `self` or
    `cls` first argument without a hint is skipped. A return hint that converts is kept under
    `"return"`, with the docstring's `Returns:` text as its description. (`get_json_schema` also maps
    a PIL image to `"image"` and a `torch.Tensor` to `"audio"`, for multimodal templates; this
    function refuses them.)

    Args:
        func: a function or method with a docstring, a type hint on every argument and a
            description of every argument in the docstring's `Args:` section.

    Returns:
        `{"type": "function", "function": {"name", "description", "parameters", ["return"]}}`.

    Raises:
        TypeError: if `func` is not callable.
        ValueError: if `func` has no docstring, or an argument has no type hint, no description,
            or a type hint that has no JSON schema (the message names the argument).
    """
    if not callable(func):
        raise TypeError(f"func must be a function, got {type(func).__name__}")
    name = getattr(func, "__name__", "operation")
    doc = inspect.getdoc(func)
    if not doc:
        raise ValueError(f"func {name} has no docstring: a tool needs one to describe itself to the model")
    description, arg_docs, returns_doc = parse_docstring(doc.strip())

    signature = inspect.signature(func)
    params = list(signature.parameters.values())
    implicit = params[0].name if params and params[0].name in ("self", "cls") and \
        params[0].annotation is inspect.Parameter.empty else None
    required = []
    for p in params:
        if p.name == implicit:
            continue
        if p.annotation is inspect.Parameter.empty:
            raise ValueError(f"argument {p.name!r} of {name} has no type hint")
        if p.default is inspect.Parameter.empty:
            required.append(p.name)

    properties: dict[str, Any] = {}
    returns = None
    for arg, hint in typing.get_type_hints(func).items():
        if arg == implicit:
            continue
        if arg == "return":
            try:
                returns = _type_schema(hint, f"the return type of {name}")
            except ValueError:
                pass  # the model never writes the return value: an unconvertible one is left out
            continue
        schema = _type_schema(hint, f"argument {arg!r} of {name}")
        if arg not in arg_docs:
            raise ValueError(f"argument {arg!r} of {name} has no description in the docstring's Args: section")
        text = arg_docs[arg]
        choices = _CHOICES.search(text)
        if choices:
            schema["enum"] = [c.strip() if isinstance(c, str) else c for c in json.loads(choices.group(1))]
            text = text[:choices.start()].strip()
        schema["description"] = text
        properties[arg] = schema

    parameters: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        parameters["required"] = required
    out: dict[str, Any] = {"name": name, "description": description, "parameters": parameters}
    if returns is not None:
        if returns_doc is not None:
            returns["description"] = returns_doc
        out["return"] = returns
    return {"type": "function", "function": out}


# ---- a chat template that shows tools -----------------------------------------------------------

TOOL_CHAT_TEMPLATE = (
    "{%- if tools %}"
    "{{- '<|im_start|>system\\n' }}"
    "{%- if messages[0].role == 'system' %}{{- messages[0].content + '\\n\\n' }}{%- endif %}"
    "{{- '# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\n"
    "You are provided with function signatures within <tools></tools> XML tags:\\n<tools>' }}"
    "{%- for tool in tools %}{{- '\\n' + (tool | tojson) }}{%- endfor %}"
    "{{- '\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments "
    "within <tool_call></tool_call> XML tags:\\n<tool_call>\\n"
    "{\"name\": <function-name>, \"arguments\": <args-json-object>}\\n</tool_call><|im_end|>\\n' }}"
    "{%- elif messages[0].role == 'system' %}"
    "{{- '<|im_start|>system\\n' + messages[0].content + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- for message in messages %}"
    "{%- if message.role == 'user' or (message.role == 'assistant' and not message.tool_calls) %}"
    "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}"
    "{%- elif message.role == 'assistant' %}"
    "{{- '<|im_start|>assistant' }}"
    "{%- if message.content %}{{- '\\n' + message.content }}{%- endif %}"
    "{%- for call in message.tool_calls %}"
    "{{- '\\n<tool_call>\\n{\"name\": \"' + call.function.name + '\", \"arguments\": '"
    " + (call.function.arguments | tojson) + '}\\n</tool_call>' }}"
    "{%- endfor %}"
    "{{- '<|im_end|>\\n' }}"
    "{%- elif message.role == 'tool' %}"
    "{{- '<|im_start|>user\\n<tool_response>\\n' + message.content + '\\n</tool_response><|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
"""A ChatML chat template that renders tools, modelled on the tool section of Qwen2.5's template.

With `tools`, the system turn lists one JSON schema a line between `<tools>` and `</tools>` and
asks for calls as `<tool_call>{"name": ..., "arguments": {...}}</tool_call>` (what
`parse_tool_calls` reads). An assistant message with `tool_calls` is written back in that form, and
a `tool` message becomes a user turn holding `<tool_response>...</tool_response>`, as in Qwen2.5.
Give it to a tokenizer as `chat_template=` (`genai_guide.chat_formats.tiny_chat_tokenizer`) or
`tokenizer.chat_template = TOOL_CHAT_TEMPLATE`.
"""


# ---- checking arguments against a schema ---------------------------------------------------------

def _is_type(value: Any, kind: str) -> bool:
    if kind == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or \
            (isinstance(value, float) and value.is_integer())  # JSON Schema: 2.0 is an integer
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    checks = {"string": str, "boolean": bool, "array": list, "object": dict}
    if kind == "null":
        return value is None
    if kind not in checks:
        raise ValueError(f"schema uses the type {kind!r}, which validate_arguments does not check")
    return isinstance(value, checks[kind])


def _json_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):  # in JSON, true is not 1
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    return a == b


def _problems(value: Any, schema: Mapping[str, Any], path: str) -> list[str]:
    if value is None and schema.get("nullable"):
        return []
    if "anyOf" in schema and all(_problems(value, s, path) for s in schema["anyOf"]):
        return [f"{path} = {value!r} matches none of the allowed schemas"]
    if "type" in schema:
        kinds = [schema["type"]] if isinstance(schema["type"], str) else list(schema["type"])
        if not any(_is_type(value, k) for k in kinds):
            return [f"{path} must be of type {' or '.join(kinds)}, got {value!r}"]
    if "enum" in schema and not any(_json_equal(value, e) for e in schema["enum"]):
        return [f"{path} must be one of {schema['enum']}, got {value!r}"]
    out: list[str] = []
    if isinstance(value, list):
        prefix = schema.get("prefixItems", [])
        for i, (item, s) in enumerate(zip(value, prefix)):
            out += _problems(item, s, f"{path}[{i}]")
        if "items" in schema:
            for i, item in enumerate(value[len(prefix):], start=len(prefix)):
                out += _problems(item, schema["items"], f"{path}[{i}]")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        out += [f"{path} is missing the required argument {k!r}" for k in schema.get("required", []) if k not in value]
        for k, v in value.items():
            if k in props:
                out += _problems(v, props[k], f"{path}.{k}")
            elif "additionalProperties" in schema:
                extra = schema["additionalProperties"]
                if extra is False:
                    out.append(f"{path} has an unexpected argument {k!r}")
                elif isinstance(extra, Mapping):
                    out += _problems(v, extra, f"{path}.{k}")
    return out


def validate_arguments(arguments: Mapping[str, Any], parameters: Mapping[str, Any]) -> list[str]:
    """What is wrong with a tool call's arguments, as messages for the model (empty if nothing is).

    Checks the JSON Schema keywords `function_schema` writes, with the meaning the
    `jsonschema` package gives them (the tests compare): `type` (one name or a list; an `integer`
    may be written `2.0`, `true` is not a number), `enum`, `anyOf`, `items`, `prefixItems`
    (extra items allowed), `properties`, `required` and `additionalProperties`; plus OpenAPI's
    `"nullable": true` (also accept `null`). The arguments themselves are an `object`: names that
    are not in `parameters["properties"]` are reported too, since the function would not accept them.

    Args:
        arguments: the call's arguments, as parsed from JSON.
        parameters: the `"parameters"` of a tool schema.

    Returns:
        One message a problem, such as `"arguments.k must be of type integer, got 'three'"`.

    Raises:
        TypeError: if `parameters` is not a mapping.
        ValueError: if the schema uses a type this function does not check (`"image"`, `"audio"`).
    """
    if not isinstance(parameters, Mapping):
        raise TypeError(f"parameters must be a mapping (a JSON schema), got {type(parameters).__name__}")
    if not isinstance(arguments, Mapping):
        return [f"arguments must be an object, got {arguments!r}"]
    return _problems(dict(arguments), {"additionalProperties": False, **parameters, "type": "object"}, "arguments")


# ---- parsing a model's tool calls ---------------------------------------------------------------

class ToolCallError(ValueError):
    """A model's reply that announces a tool call but does not hold a well-formed one."""


@dataclass(frozen=True)
class ToolCall:
    """One call a model asked for: a tool's name and its arguments (parsed from JSON)."""

    name: str
    arguments: dict[str, Any]

    def as_message_entry(self) -> dict[str, Any]:
        """The entry of an assistant message's `tool_calls`, as `transformers` chat templates expect it."""
        return {"type": "function", "function": {"name": self.name, "arguments": self.arguments}}


_CALL = re.compile(r"<tool_call>(.*?)</tool_call>", re.DOTALL)


def parse_tool_calls(text: str) -> tuple[str, list[ToolCall]]:
    """Split a model's reply into its prose and its tool calls.

    A call is a JSON object `{"name": ..., "arguments": {...}}` between `<tool_call>` and
    `</tool_call>`, as Qwen2.5's and Hermes' chat templates ask for; a reply may hold several.
    `arguments` may also be a string that holds a JSON object (OpenAI's API sends them so).

    Args:
        text: the model's reply.

    Returns:
        `(content, calls)`: the reply without the calls (stripped) and the calls in order; no calls
        means the reply is a final answer.

    Raises:
        TypeError: if `text` is not a str.
        ToolCallError: (a `ValueError`) if a tag is unclosed, or a call is not valid JSON, is not an
            object, or lacks a string `name` or an object `arguments`.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    calls = []
    for i, m in enumerate(_CALL.finditer(text), start=1):
        body = m.group(1).strip()
        try:
            data = json.loads(body)
        except json.JSONDecodeError as err:
            raise ToolCallError(f"tool call {i} is not valid JSON ({err.msg} at character {err.pos}): {body!r}") from None
        if not isinstance(data, dict):
            raise ToolCallError(f"tool call {i} must be a JSON object with name and arguments, got {body!r}")
        name, arguments = data.get("name"), data.get("arguments", {})
        if not isinstance(name, str) or not name:
            raise ToolCallError(f"tool call {i} has no \"name\" string: {body!r}")
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments)
            except json.JSONDecodeError:
                raise ToolCallError(f"tool call {i}: \"arguments\" is a string that is not JSON: {arguments!r}") from None
        if not isinstance(arguments, dict):
            raise ToolCallError(f"tool call {i}: \"arguments\" must be a JSON object, got {arguments!r}")
        calls.append(ToolCall(name, arguments))
    rest = _CALL.sub("", text)
    if "<tool_call>" in rest or "</tool_call>" in rest:
        raise ToolCallError("a <tool_call> tag is not closed (or a </tool_call> not opened)")
    return rest.strip(), calls


# ---- the registry: schemas and execution ---------------------------------------------------------

def _observation(result: Any) -> str:
    if isinstance(result, str):
        return result
    try:
        return json.dumps(result, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(result)


class ToolRegistry:
    """The tools an agent may call: their schemas for the prompt, and running a call safely.

    Args:
        tools: functions, each with type hints and a Google-style docstring (see `function_schema`).

    Attributes:
        schemas: one `function_schema` a tool, in order: pass them as
            `tokenizer.apply_chat_template(messages, tools=registry.schemas)`.

    Raises:
        TypeError: if `tools` is not a sequence of callables.
        ValueError: if `tools` is empty, two tools share a name, or a tool has no schema (no
            docstring, a missing type hint or argument description).
    """

    def __init__(self, tools: Sequence[Callable[..., Any]]) -> None:
        if isinstance(tools, (str, Mapping)) or not isinstance(tools, Sequence):
            raise TypeError("tools must be a sequence of functions")
        if not tools:
            raise ValueError("tools must not be empty")
        self._functions: dict[str, Callable[..., Any]] = {}
        self.schemas: list[dict[str, Any]] = []
        for i, tool in enumerate(tools):
            if not callable(tool):
                raise TypeError(f"tools[{i}] must be a function, got {type(tool).__name__}")
            schema = function_schema(tool)
            name = schema["function"]["name"]
            if name in self._functions:
                raise ValueError(f"tools has two tools named {name!r}: the model could not tell them apart")
            self._functions[name] = tool
            self.schemas.append(schema)

    @property
    def names(self) -> list[str]:
        """The tool names, in order."""
        return list(self._functions)

    def execute(self, call: ToolCall) -> Message:
        """Run one call and return its result as a `tool` message; never raises for the model's mistakes.

        An unknown tool, arguments that fail `validate_arguments`, or a tool that raises give a
        message whose content starts with `"error: "` and says what went wrong, so the model can
        correct itself on its next turn. A result that is not a str is written as JSON.

        Returns:
            `{"role": "tool", "name": call.name, "content": ...}`.

        Raises:
            TypeError: if `call` is not a `ToolCall` (a bug in the loop, not the model's mistake).
        """
        if not isinstance(call, ToolCall):
            raise TypeError(f"call must be a ToolCall, got {type(call).__name__}")
        message: Message = {"role": "tool", "name": call.name}
        if call.name not in self._functions:
            message["content"] = f"error: unknown tool {call.name!r}; the tools are {', '.join(self.names)}"
            return message
        schema = self.schemas[self.names.index(call.name)]["function"]["parameters"]
        problems = validate_arguments(call.arguments, schema)
        if problems:
            message["content"] = f"error: invalid arguments for {call.name}: " + "; ".join(problems)
            return message
        try:
            result = self._functions[call.name](**call.arguments)
        except Exception as err:  # noqa: BLE001 - any failure of a tool is the model's observation
            message["content"] = f"error: {call.name} raised {type(err).__name__}: {err}"
            return message
        message["content"] = _observation(result)
        return message


# ---- the agent loop -----------------------------------------------------------------------------

def word_count(text: str) -> int:
    """A stand-in token counter: the number of whitespace-separated words in `text`."""
    return len(text.split())


@dataclass
class AgentResult:
    """What `run_agent` did.

    Attributes:
        answer: the final answer, or `None` if a budget ran out first.
        stop_reason: `"final_answer"`, `"max_steps"`, `"max_tokens"` or `"max_seconds"`.
        messages: the whole conversation: the input, each assistant message, each tool message.
        steps: how many times the policy was called.
        tokens: how many tokens the policy generated (as `count_tokens` counts them).
        errors: the error observations, in order.
    """

    answer: str | None
    stop_reason: str
    messages: list[Message]
    steps: int = 0
    tokens: int = 0
    errors: list[str] = field(default_factory=list)


def run_agent(
    policy: Policy,
    messages: str | Sequence[Message],
    tools: ToolRegistry | Sequence[Callable[..., Any]],
    *,
    max_steps: int = 8,
    max_tokens: int | None = None,
    max_seconds: float | None = None,
    count_tokens: Callable[[str], int] = word_count,
    clock: Callable[[], float] = time.monotonic,
) -> AgentResult:
    """The agent loop: ask the policy, run the tools it calls, show it the results, until it answers.

    ```text
    loop:
        stop if max_steps policy calls were made, or max_seconds have passed
        reply = policy(messages)                     # plan: the model decides what to do next
        content, calls = parse_tool_calls(reply)     # a malformed call -> an error observation
        no calls -> the reply is the final answer: stop
        more than max_tokens generated -> stop before acting
        for each call: messages += tool message      # act and observe
    ```

    The policy is any function from the conversation to the next assistant text: a chat model
    behind `apply_chat_template(messages, tools=registry.schemas)`, an API, or a scripted stand-in.
    Each reply becomes an assistant message (with `tool_calls` when it holds any); each call's
    result becomes a `tool` message. The model's mistakes and the tools' failures (an unknown tool,
    a malformed call, invalid arguments, a tool that raises) are error observations it reads on
    the next turn; they never raise out of the loop.

    Args:
        policy: the model: `messages -> reply text`.
        messages: the user's request (a str), or the conversation so far (a list of messages).
        tools: a `ToolRegistry`, or the functions to make one from.
        max_steps: the most policy calls.
        max_tokens: the most tokens the policy may generate in all (`None`: no limit).
        max_seconds: the most seconds the loop may start new steps for (`None`: no limit); checked
            before each policy call, so a slow tool is not interrupted.
        count_tokens: how tokens are counted (default `word_count`; pass a tokenizer's
            `lambda s: len(tok.encode(s))` for real tokens).
        clock: the time source, in seconds (a fake clock makes time budgets testable).

    Returns:
        An `AgentResult`.

    Raises:
        TypeError: if an argument has the wrong type, or the policy returns something else than a str.
        ValueError: if a budget is not positive, or `tools` is not a valid registry.
    """
    if not callable(policy):
        raise TypeError(f"policy must be callable (messages -> str), got {type(policy).__name__}")
    registry = tools if isinstance(tools, ToolRegistry) else ToolRegistry(tools)
    if isinstance(messages, str):
        conversation: list[Message] = [{"role": "user", "content": messages}]
    elif isinstance(messages, Sequence) and all(isinstance(m, Mapping) and "role" in m for m in messages):
        conversation = [dict(m) for m in messages]
    else:
        raise TypeError("messages must be a str or a sequence of {'role': ..., 'content': ...} messages")
    _check_int("max_steps", max_steps, 1)
    if max_tokens is not None:
        _check_int("max_tokens", max_tokens, 1)
    if max_seconds is not None and (not isinstance(max_seconds, (int, float)) or isinstance(max_seconds, bool)
                                    or not max_seconds > 0):
        raise ValueError(f"max_seconds must be a number > 0 or None, got {max_seconds!r}")
    if not callable(count_tokens) or not callable(clock):
        raise TypeError("count_tokens and clock must be callable")

    result = AgentResult(None, "max_steps", conversation)
    start = clock()
    while True:
        if result.steps >= max_steps:
            result.stop_reason = "max_steps"
            return result
        if max_seconds is not None and clock() - start > max_seconds:
            result.stop_reason = "max_seconds"
            return result
        reply = policy(list(conversation))  # a copy: the policy cannot rewrite the history
        if not isinstance(reply, str):
            raise TypeError(f"policy must return a str, got {type(reply).__name__}")
        result.steps += 1
        result.tokens += count_tokens(reply)
        try:
            content, calls = parse_tool_calls(reply)
        except ToolCallError as err:  # the model's mistake: show it, let it try again
            conversation.append({"role": "assistant", "content": reply})
            observation = f"error: malformed tool call: {err}"
            conversation.append({"role": "tool", "name": "", "content": observation})
            result.errors.append(observation)
            continue
        if not calls:
            conversation.append({"role": "assistant", "content": content})
            result.answer, result.stop_reason = content, "final_answer"
            return result
        conversation.append({"role": "assistant", "content": content,
                             "tool_calls": [c.as_message_entry() for c in calls]})
        if max_tokens is not None and result.tokens > max_tokens:
            result.stop_reason = "max_tokens"  # over budget: the calls are not run
            return result
        for call in calls:
            message = registry.execute(call)
            conversation.append(message)
            if message["content"].startswith("error: "):
                result.errors.append(message["content"])


# ---- tools over the book's own index --------------------------------------------------------------

def knowledge_base_tools(name: str = "harbour_guide") -> list[Callable[..., Any]]:
    """Three tools over a labelled set of the book (`genai_guide.knowledge_base`): search, read, calculate.

    - `search(query, k=3)`: BM25 (`genai_guide.sparse.BM25`) over the passages; returns the `k`
      best as `[{"id", "title", "score"}]`, scores rounded to 3 decimals.
    - `read_passage(passage_id)`: the passage's title and text; an unknown id raises `ValueError`
      (which the loop turns into an observation).
    - `calculate(expression)`: `genai_guide.prompting.calculator`, arithmetic from the syntax tree,
      never `eval`.

    Args:
        name: the labelled set (`genai_guide.knowledge_base.labelled_set_names()`).

    Returns:
        `[search, read_passage, calculate]`, each with type hints and a docstring, ready for `ToolRegistry`.
    """
    from genai_guide.knowledge_base import load_labelled_set
    from genai_guide.prompting import calculator
    from genai_guide.sparse import BM25, tokenize

    kb = load_labelled_set(name)
    index = BM25([tokenize(d) for d in kb.documents])
    ids = kb.passage_ids

    def search(query: str, k: int = 3) -> list[dict[str, Any]]:
        """Search the harbour guide for passages about a topic.

        Args:
            query: keywords to look for.
            k: how many passages to return, from 1 to 10.
        """
        if not 1 <= k <= 10:
            raise ValueError(f"k must be between 1 and 10, got {k}")
        return [{"id": ids[i], "title": kb.passages[i].title, "score": round(s, 3)}
                for i, s in index.search(tokenize(query), int(k))]

    def read_passage(passage_id: str) -> str:
        """Read one passage of the harbour guide in full.

        Args:
            passage_id: the passage's id, such as "p04", as returned by search.
        """
        p = kb.passage(passage_id)
        return f"{p.title}. {p.text}"

    def calculate(expression: str) -> float:
        """Evaluate an arithmetic expression exactly.

        Args:
            expression: numbers, + - * / // % ** and parentheses, such as "8 * 5".
        """
        return calculator(expression)

    return [search, read_passage, calculate]
