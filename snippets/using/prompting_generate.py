"""A language model, seen from a program, is a function from a prompt to a continuation."""

from genai_guide.prompting import Generate, ScriptedModel

# A scripted stand-in: the rule whose text occurs latest in the prompt decides the reply.
model: Generate = ScriptedModel({
    "Q: What is the capital of France?\nA:": " Paris.",
    "Translate to French: cheese =>": " fromage",
})
print(repr(model("Q: What is the capital of France?\nA:")))
print(repr(model("Q: What is the capital of France?\nA: Paris.\n\nTranslate to French: cheese =>")))
print(len(model.calls), "prompts received")
try:
    model("Q: Who wrote Hamlet?\nA:")
except ValueError as err:  # a stand-in has no answer it was not given
    print("ValueError:", str(err).split(";")[0])
