"""The agent loop over the book's own index: BM25 search, passage lookup and a calculator, driven by a
scripted policy (a deterministic stand-in for the language model), with its stop conditions."""

# --8<-- [start:tools]
import json
import re

from genai_guide.agents import ToolRegistry, knowledge_base_tools, run_agent
from genai_guide.prompting import calculator

registry = ToolRegistry(knowledge_base_tools())  # search (BM25), read_passage, calculate
print("tools:", registry.names)
# --8<-- [end:tools]

# --8<-- [start:policy]
NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8}


def call(name: str, **arguments) -> str:
    return f"<tool_call>\n{json.dumps({'name': name, 'arguments': arguments})}\n</tool_call>"


def scripted_policy(messages: list[dict]) -> str:
    """A stand-in for the LLM: a fixed plan, each step chosen from the last message. It does not read
    or reason like a model; it emits the tool calls a capable model would, so the loop can be tested."""
    question = messages[0]["content"]
    last = messages[-1]
    if last["role"] == "user":  # plan: find the passage, read it, compute
        return "I will search the guide first.\n" + call("search", query=question)
    if last["content"].startswith("error: "):
        return "I could not finish: " + last["content"]
    if last["name"] == "search":
        best = json.loads(last["content"])[0]
        return call("read_passage", passage_id=best["id"])
    if last["name"] == "read_passage":
        rate = NUMBERS[re.search(r"(\w+) crowns a night", last["content"])[1]]
        nights = NUMBERS[re.search(r"(\w+) nights", question)[1]]
        return call("calculate", expression=f"{rate} * {nights}")
    hits = next(m["content"] for m in messages if m["role"] == "tool" and m["name"] == "search")
    source = json.loads(hits)[0]["id"]  # cite the passage the numbers came from
    return f"A visiting yacht pays {last['content']} crowns for five nights [{source}]."
# --8<-- [end:policy]

# --8<-- [start:run]
question = "How much does a visiting yacht pay in harbour dues for five nights?"
result = run_agent(scripted_policy, question, registry, max_steps=6)
for m in result.messages:
    shown = m["content"] if "tool_calls" not in m else \
        (m["content"] + " " if m["content"] else "") + json.dumps(m["tool_calls"][0]["function"])
    label = m["role"] + (f":{m['name']}" if m["role"] == "tool" else "")
    print(f"{label:>17} | {shown}")
print(f"stop: {result.stop_reason}, {result.steps} policy calls, {result.tokens} words generated")
assert result.answer == "A visiting yacht pays 40 crowns for five nights [p12]."
assert result.messages[-2]["content"] == str(calculator("8 * 5")) and result.errors == []
# --8<-- [end:run]

# --8<-- [start:budget]
short = run_agent(scripted_policy, question, registry, max_steps=2)
print(f"max_steps=2: stop {short.stop_reason}, answer {short.answer}, last message from {short.messages[-1]['role']}")
assert (short.stop_reason, short.answer, short.steps) == ("max_steps", None, 2)
# --8<-- [end:budget]
