"""Zero-, one- and few-shot prompts built from one template: the exact strings a model reads."""

from genai_guide.prompting import few_shot_prompt, one_shot_prompt, zero_shot_prompt

instruction = "Translate English to French:"  # the task of figure 2.1 in Brown et al. (2020)
examples = [("sea otter", "loutre de mer"), ("peppermint", "menthe poivrée"), ("plush girafe", "girafe peluche")]

zero = zero_shot_prompt("cheese", instruction=instruction)
one = one_shot_prompt(examples[0], "cheese", instruction=instruction)
few = few_shot_prompt(examples, "cheese", instruction=instruction)
for name, prompt in (("zero-shot", zero), ("one-shot", one), ("few-shot", few)):
    print(f"--- {name} ---\n{prompt}")

assert few == ("Translate English to French:\nsea otter => loutre de mer\npeppermint => menthe poivrée\n"
               "plush girafe => girafe peluche\ncheese =>")
assert zero.endswith("\ncheese =>") and one.count("=>") == 2  # the prompt ends where the answer starts

# The same builder with another template writes the letter-map prompts of the next section.
letters = few_shot_prompt([("a", "w"), ("c", "s"), ("h", "y")], "c", template="{input}{output}", separator=";")
print(f"--- letter map ---\n{letters}")
assert letters == "aw;cs;hy;c"
