"""Prompt chaining: the output of one call fills a slot of the next (Kojima et al.'s two-stage prompt)."""

from genai_guide.prompting import ChainStep, ScriptedModel, run_chain

steps = [
    ChainStep("reasoning", "Q: {question}\nA: Let's think step by step."),
    ChainStep("answer", "Q: {question}\nA: Let's think step by step. {reasoning}\n"
                        "Therefore, the answer (arabic numerals) is"),
]
model = ScriptedModel({
    "Let's think step by step.": " The baker has 3 * 12 = 36 rolls and sells 20, so 36 - 20 = 16 are left.",
    "Therefore, the answer (arabic numerals) is": " 16.",
})
question = "A baker bakes 3 trays of 12 rolls and sells 20 rolls. How many rolls are left?"
values = run_chain(model, steps, {"question": question})
print(model.calls[-1])
print("->", repr(values["answer"]))

# The same two calls written out by hand give the same result.
reasoning = model(steps[0].template.format(question=question)).strip()
answer = model(steps[1].template.format(question=question, reasoning=reasoning)).strip()
assert (reasoning, answer) == (values["reasoning"], values["answer"])
