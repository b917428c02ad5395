"""One conversation in ChatML, Llama 2 and Mistral format, and the book's formatters checked against
tokenizer.apply_chat_template with the published Jinja templates."""

# --8<-- [start:render]
from genai_guide.chat_formats import (
    format_chatml,
    format_llama2,
    format_mistral,
    prepend_system_to_first_user,
)

conversation = [
    {"role": "system", "content": "Answer in one sentence."},
    {"role": "user", "content": "What is a lighthouse?"},
    {"role": "assistant", "content": "A tower whose light guides ships."},
    {"role": "user", "content": "Who keeps it?"},
]

print("--- ChatML, with the generation prompt ---")
print(format_chatml(conversation, add_generation_prompt=True), end="")
print("--- Llama 2 ---")
print(format_llama2(conversation))
print("--- Mistral v0.1 (no system role: folded into the first user message) ---")
print(format_mistral(prepend_system_to_first_user(conversation)))
# --8<-- [end:render]

# --8<-- [start:check]
import random

import transformers

from genai_guide.chat_formats import FORMATS, tiny_chat_tokenizer

transformers.logging.set_verbosity_error()
tokenizer = tiny_chat_tokenizer(["any text"])  # only the template matters when tokenize=False

rng = random.Random(0)
pieces = ["lamp", " ", "  ", "\n", "é", "<s>", "[INST]", "{{ x }}"]  # whitespace, Unicode, look-alikes


def random_chat(name: str) -> list[dict[str, str]]:
    chat = [{"role": "system", "content": "Be brief. "}] if name == "llama2" and rng.random() < 0.5 else []
    for j in range(rng.randint(1, 6)):
        chat.append({"role": "user" if j % 2 == 0 else "assistant",
                     "content": "".join(rng.choice(pieces) for _ in range(rng.randint(0, 5)))})
    return chat


print()
for name, fmt in FORMATS.items():
    n = 0
    for _ in range(200):
        chat = random_chat(name)
        for add_generation_prompt in (False, True):
            ours = fmt.render(chat, add_generation_prompt=add_generation_prompt)
            jinja = tokenizer.apply_chat_template(chat, chat_template=fmt.template, tokenize=False,
                                                  add_generation_prompt=add_generation_prompt)
            assert ours == jinja
            n += 1
    print(f"{name:8} {n} random renderings, byte-identical to apply_chat_template")
# --8<-- [end:check]
