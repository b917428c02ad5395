"""A real transformers model behind the same Generate interface: tiny, random, and honest about it.

The model is a 2-block GPT-2 with random weights over a character vocabulary, so its text is
gibberish. What is real is the plumbing: prompts are encoded, the model generates, the loops parse
what it wrote and react to it.
"""

# --8<-- [start:wrap]
import string

import torch
import transformers

from genai_guide.gpt import GPT, GPTConfig, generate_greedy
from genai_guide.prompting import (
    KnowledgeTable,
    Tool,
    calculator,
    char_codec,
    react,
    transformers_generate,
)

transformers.logging.set_verbosity_error()
torch.set_num_threads(1)  # the same numbers on every machine, and no idle threads spinning
alphabet = string.printable[:95] + "\n"  # letters, digits, punctuation, space and newline: 96 tokens
encode, decode = char_codec(alphabet, unknown="?")

torch.manual_seed(0)
ours = GPT(GPTConfig(vocab_size=len(alphabet), context_length=512, d_model=32, n_layers=2, n_heads=2))
model = ours.to_gpt2()  # a transformers GPT2LMHeadModel with the same random weights, in eval mode
generate = transformers_generate(model, encode, decode, max_new_tokens=24)

prompt = "Question: What is 6 * 7?\nThought:"
text = generate(prompt)
print(repr(text))
ids = torch.tensor([encode(prompt)])
assert text == decode(generate_greedy(ours, ids, 24)[0, ids.shape[1]:].tolist())  # the same tokens
# --8<-- [end:wrap]

# --8<-- [start:loop]
table = KnowledgeTable({"Eiffel Tower": "The Eiffel Tower is a wrought-iron lattice tower in Paris, completed in 1889."})
tools = [Tool("Search", "returns the passage on an entity.", table.search),
         Tool("Calculate", "evaluates an arithmetic expression.", calculator)]
sampler = transformers_generate(model, encode, decode, max_new_tokens=40, do_sample=True)  # temperature 1
torch.manual_seed(1)
result = react(sampler, "When was the Eiffel Tower completed?", tools, max_steps=3)
print("answer:", result.answer)
for step in result.steps:
    print(f"wrote {step.thought[:40]!r} -> {step.observation}")
assert result.answer is None and all(s.action == "" for s in result.steps)  # gibberish never parses
# --8<-- [end:loop]
