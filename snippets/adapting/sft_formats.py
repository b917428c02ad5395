"""One instruction record in the three shapes SFT data comes in, and the format trl reads from each."""

from trl.data_utils import is_conversational

from genai_guide.sft import (
    alpaca_to_messages,
    alpaca_to_prompt_completion,
    messages_to_prompt_completion,
    sft_dataset_format,
)

# An Alpaca-style record: what to do, what to do it to, and the answer to learn.
record = {"instruction": "Reverse the word.", "input": "lamp", "output": "pmal"}

prompt_completion = alpaca_to_prompt_completion(record)  # standard prompt-completion
chat = alpaca_to_messages(record, system="You are a concise assistant.")  # conversational
chat_prompt_completion = messages_to_prompt_completion(chat)  # conversational prompt-completion

print(prompt_completion["prompt"])
print(repr(prompt_completion["completion"]))
print()
for message in chat["messages"]:
    print(f"{message['role']:>9}: {message['content']!r}")
print()
examples = {
    "text": {"text": "The keeper rang the bell."},
    "prompt/completion": prompt_completion,
    "messages": chat,
    "prompt/completion as messages": chat_prompt_completion,
}
for name, example in examples.items():
    kind = sft_dataset_format(example)
    assert is_conversational(example) == kind.startswith("conversational")  # trl agrees
    print(f"{name:<30} -> {kind}")
