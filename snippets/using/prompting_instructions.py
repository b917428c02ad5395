"""Instructions, roles and output formats: the same request as one text prompt and as chat messages."""

from genai_guide.prompting import chat_messages, instruction_prompt

prompt = instruction_prompt(
    "Correct the spelling mistakes.",
    role="You are a careful copy editor.",
    output_format="the corrected sentence only, nothing else.",
    input_text="Teh keeper lit teh lamp evry night.",
)
print(prompt)

messages = chat_messages(
    system="You are a careful copy editor. Answer with the corrected sentence only.",
    user="Teh keeper lit teh lamp evry night.",
    examples=[("Thier boat was late.", "Their boat was late.")],  # one example, as a past exchange
)
for m in messages:
    print(f"{m['role']:>9}: {m['content']}")
assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
