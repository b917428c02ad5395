"""Function calling, step by step: a JSON schema from a Python function (equal to transformers'
get_json_schema), the tools rendered into the prompt by apply_chat_template(tools=...), and one tool
call parsed, validated, executed and returned as a tool message."""

# --8<-- [start:schema]
import json
from typing import Literal

from transformers.utils import get_json_schema

from genai_guide.agents import function_schema


def harbour_dues(nights: int, boat: Literal["yacht", "fishing boat", "lifeboat"] = "yacht") -> int:
    """Harbour dues for a stay, in crowns.

    Args:
        nights: how many nights the boat stays.
        boat: what kind of boat it is.
    """
    if nights < 0:
        raise ValueError(f"nights must be >= 0, got {nights}")
    return 8 * nights if boat == "yacht" else 0


schema = function_schema(harbour_dues)  # from the signature and the docstring, nothing written by hand
print(json.dumps(schema, indent=1))
assert schema == get_json_schema(harbour_dues)
# --8<-- [end:schema]

# --8<-- [start:template]
from genai_guide.agents import TOOL_CHAT_TEMPLATE
from genai_guide.chat_formats import tiny_chat_tokenizer

tokenizer = tiny_chat_tokenizer(["harbour dues for a yacht"], chat_template=TOOL_CHAT_TEMPLATE)
messages = [{"role": "user", "content": "What does a yacht pay for three nights?"}]
prompt = tokenizer.apply_chat_template(messages, tools=[harbour_dues], tokenize=False,
                                       add_generation_prompt=True)  # tools=[function] or [schema]
print(prompt)
assert json.dumps(schema, ensure_ascii=False) in prompt  # the schema, verbatim, in the system turn
assert prompt == tokenizer.apply_chat_template(messages, tools=[schema], tokenize=False, add_generation_prompt=True)
# --8<-- [end:template]

# --8<-- [start:call]
from genai_guide.agents import ToolRegistry, parse_tool_calls, validate_arguments

reply = '<tool_call>\n{"name": "harbour_dues", "arguments": {"nights": 3}}\n</tool_call>'  # the model's turn
content, calls = parse_tool_calls(reply)
print("parsed:", calls)
print("valid:", validate_arguments(calls[0].arguments, schema["function"]["parameters"]) == [])
print("invalid:", validate_arguments({"nights": "three"}, schema["function"]["parameters"]))
registry = ToolRegistry([harbour_dues])
observation = registry.execute(calls[0])  # runs harbour_dues(nights=3)
print("tool message:", observation)
assert observation["content"] == str(harbour_dues(3)) == "24"

messages += [{"role": "assistant", "content": content, "tool_calls": [c.as_message_entry() for c in calls]},
             observation]
follow_up = tokenizer.apply_chat_template(messages, tools=registry.schemas, tokenize=False,
                                          add_generation_prompt=True)
print(follow_up[len(prompt) - len("<|im_start|>assistant\n"):])  # what the two new messages added
assert parse_tool_calls(follow_up.split("<|im_start|>assistant\n")[-2].split("<|im_end|>")[0])[1] == calls
# --8<-- [end:call]
