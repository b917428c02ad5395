"""Chain-of-thought prompts, answer extraction, and self-consistency as a majority vote."""

# --8<-- [start:prompts]
from collections import Counter

from genai_guide.prompting import (
                                   COT_EXAMPLE,
                                   ScriptedModel,
                                   chain_of_thought_prompt,
                                   extract_answer,
                                   majority_vote,
                                   self_consistency,
)

question = "A baker bakes 3 trays of 12 rolls and sells 20 rolls. How many rolls are left?"
few_shot_cot = chain_of_thought_prompt(question, examples=[COT_EXAMPLE])  # Wei et al. 2022
zero_shot_cot = chain_of_thought_prompt(question, trigger="Let's think step by step.")  # Kojima et al. 2022
print(few_shot_cot)
print("---")
print(zero_shot_cot)
# --8<-- [end:prompts]

# --8<-- [start:vote]
# Five sampled reasoning paths (scripted): three reach 16, two go wrong in different ways.
paths = [
    "3 + 12 = 15 rolls. 15 - 20 is below zero, so none are left. The answer is 0.",
    "3 trays of 12 rolls is 3 * 12 = 36 rolls. 36 - 20 = 16. The answer is 16.",
    "Each tray has 12 rolls, so 36 rolls. Selling 20 leaves 36 - 20 = 16. The answer is 16.",
    "3 * 12 = 36. 36 - 20 = 14. The answer is 14.",
    "There are 36 rolls. After selling 20 there are 16. The answer is 16.",
]
model = ScriptedModel({f"Q: {question}\nA:": paths})  # returns the paths in turn, like sampling
result = self_consistency(model, few_shot_cot, n_samples=5)
print("answers:", result.answers)
print(f"first path alone: {result.answers[0]}; majority vote: {result.answer} ({result.votes} of 5)")

assert (result.answer, result.votes) == Counter(result.answers).most_common(1)[0]  # the reference
assert majority_vote(["7", None, "9", "9", "7"]) == ("7", 2)  # a tie goes to the first seen
assert extract_answer("... so the answer is $1,250.") == "1250"
# --8<-- [end:vote]
