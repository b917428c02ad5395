"""Errors inside the agent loop become observations: an unknown tool, a malformed call, invalid
arguments and a tool that raises are each shown to the model, which corrects itself; and the token and
time budgets stop a policy that never finishes."""

# --8<-- [start:errors]
import json

from genai_guide.agents import knowledge_base_tools, run_agent


def call(name: str, **arguments) -> str:
    return f"<tool_call>\n{json.dumps({'name': name, 'arguments': arguments})}\n</tool_call>"


replies = iter([  # a stand-in for a clumsy model: four mistakes, then the right calls
    call("lookup", query="fog horn"),                                   # a tool that does not exist
    '<tool_call>\n{"name": "search", "arguments": {"query": "fog horn"}\n</tool_call>',  # a missing }
    call("search", query="fog horn", k="three"),                        # k must be an integer
    call("read_passage", passage_id="p222"),                            # the tool raises ValueError
    call("search", query="fog horn", k=1),
    call("read_passage", passage_id="p22"),
    "Two blasts every thirty seconds [p22].",
])
result = run_agent(lambda messages: next(replies), "How often does the fog horn sound?",
                   knowledge_base_tools(), max_steps=10)
for observation in result.errors:
    print(observation)
print(f"answer: {result.answer} ({result.stop_reason}, {result.steps} policy calls)")
assert len(result.errors) == 4 and result.answer.endswith("[p22].")
# --8<-- [end:errors]

# --8<-- [start:budgets]
forever = lambda messages: call("calculate", expression="2 + 2")
by_tokens = run_agent(forever, "Loop.", knowledge_base_tools(), max_tokens=30)  # 9 words a reply
ticks = iter(range(1000))
by_time = run_agent(forever, "Loop.", knowledge_base_tools(), max_seconds=4.5,
                    clock=lambda: float(next(ticks)))  # a fake clock: one second per reading
for name, r in (("max_tokens=30", by_tokens), ("max_seconds=4.5", by_time)):
    print(f"{name}: stop {r.stop_reason} after {r.steps} policy calls, {r.tokens} words")
assert (by_tokens.stop_reason, by_tokens.steps) == ("max_tokens", 4)
assert (by_time.stop_reason, by_time.steps) == ("max_seconds", 4)
# --8<-- [end:budgets]
