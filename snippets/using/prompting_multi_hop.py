"""Multi-hop question answering: decompose the question into follow-ups (self-ask), answer each by lookup."""

from genai_guide.prompting import KnowledgeTable, ScriptedModel, self_ask

table = KnowledgeTable({
    "Eiffel Tower": "The Eiffel Tower is a wrought-iron lattice tower in Paris, completed in 1889.",
    "Paris": "Paris is the capital of France. The Seine flows through it.",
    "Seine": "The Seine is a river in northern France that flows into the English Channel.",
})
question = "Which river flows through the city where the Eiffel Tower stands?"
print("one lookup:", table.search(question))  # finds the tower, not the river: one hop is not enough

model = ScriptedModel({
    f"Question: {question}\nAre follow up questions needed here:":
        " Yes.\nFollow up: In which city does the Eiffel Tower stand?",
    "completed in 1889.\n": "Follow up: Which river flows through Paris?",
    "The Seine flows through it.\n": "So the final answer is: the Seine",
})
result = self_ask(model, question, answer_follow_up=table.search)
print(result.transcript[result.transcript.index(f"Question: {question}"):], end="")
print("hops:", [q for q, _ in result.hops], "-> answer:", result.answer)
assert result.answer == "the Seine" and len(result.hops) == 2
