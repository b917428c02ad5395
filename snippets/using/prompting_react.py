"""Tools and ReAct: a safe calculator, a local knowledge table, and the Thought/Action/Observation loop."""

# --8<-- [start:tools]
from genai_guide.prompting import (
    KnowledgeTable,
    ReActStep,
    ScriptedModel,
    Tool,
    calculator,
    format_react_step,
    parse_react_step,
    react,
)

for expression in ["1889 - 1886", "(7 + 5) % 5 * 2 ** 3", "10 / 4 - 1"]:
    assert calculator(expression) == eval(expression)  # the reference: Python's own arithmetic
    print(f"{expression} = {calculator(expression)}")
for unsafe in ["__import__('os').getcwd()", "9 ** 9 ** 9"]:
    try:
        calculator(unsafe)
    except ValueError as err:
        print(f"refused {unsafe!r}: {err}")

table = KnowledgeTable({
    "Eiffel Tower": "The Eiffel Tower is a wrought-iron lattice tower in Paris, completed in 1889.",
    "Statue of Liberty": "The Statue of Liberty is a copper statue in New York Harbor, designed by "
                         "Frédéric Auguste Bartholdi and dedicated in 1886.",
    "Paris": "Paris is the capital of France. The Seine flows through it.",
})
print(table.search("eiffel tower"))
print(table.search("Tower of London"))
# --8<-- [end:tools]

# --8<-- [start:react]
tools = [
    Tool("Search", "returns the passage on an entity from the knowledge table.", table.search),
    Tool("Calculate", "evaluates an arithmetic expression.", calculator),
]
question = "How many years after the Statue of Liberty was dedicated was the Eiffel Tower completed?"
model = ScriptedModel({  # the replies a model might write; the loop supplies every observation
    f"Question: {question}\n": " I need the year the Statue of Liberty was dedicated.\n"
                               "Action: Search[Statue of Liberty]\nObservation: It was dedicated in 1884.",
    "dedicated in 1886.": " It was dedicated in 1886. Now I need the year the Eiffel Tower was completed.\n"
                          "Action: Search[Eiffel Tower]",
    "completed in 1889.": " It was completed in 1889, so I subtract.\nAction: Calculate[1889 - 1886]",
    "Observation: 3\n": " 3 years passed between the two.\nAction: Finish[3 years]",
})
result = react(model, question, tools, max_steps=6)
print(result.transcript, end="")
print("answer:", result.answer, "| model calls:", len(model.calls))
assert "1884" not in result.transcript  # the observation the model made up was cut off
assert all(parse_react_step(format_react_step(s)) == s for s in result.steps)  # the format round-trips
assert parse_react_step("Thought: hmm\nAction: Search[Paris]") == ReActStep("hmm", "Search", "Paris")
# --8<-- [end:react]
