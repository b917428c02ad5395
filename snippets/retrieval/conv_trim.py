"""History trimming to a token budget: genai_guide's trim_history against langchain_core's trim_messages, on
one conversation with the common settings and on random conversations and settings."""

# --8<-- [start:trim]
import random
import re

from langchain_core.messages import convert_to_messages, trim_messages

from genai_guide.conversation import trim_history

PER_MESSAGE = 4  # role markers a chat format adds around each message (e.g. ChatML's <|im_start|>user\n ...)


def count_tokens(text: str) -> int:  # a stand-in tokenizer: words and punctuation marks
    return len(re.findall(r"\w+|[^\w\s]", text))


def message_tokens(message: dict) -> int:
    return count_tokens(message["content"]) + PER_MESSAGE


history = [
    {"role": "system", "content": "You answer questions about the harbour town from the sources."},
    {"role": "user", "content": "When does the bakery open?"},
    {"role": "assistant", "content": "The bakery on Quay Street opens at five in the morning. [1]"},
    {"role": "user", "content": "And what does it sell?"},
    {"role": "assistant", "content": "The baker sells rye loaves, seed rolls and a honey cake called the Tidewheel. [1]"},
    {"role": "user", "content": "Who buys bread there before dawn?"},
    {"role": "assistant", "content": "Fishermen buy their bread at the bakery before dawn. [1]"},
]
print("tokens per message:", [message_tokens(m) for m in history], "=", sum(map(message_tokens, history)))
settings = {
    "last 50": {"strategy": "last"},
    "last 50, keep system, start on user": {"strategy": "last", "include_system": True, "start_on": "user"},
    "first 50, end on assistant": {"strategy": "first", "end_on": "assistant"},
}
LC_ROLE = {"system": "system", "user": "human", "assistant": "ai"}
for name, kwargs in settings.items():
    kept = trim_history(history, 50, message_tokens, **kwargs)
    print(f"{name:36} keeps {[history.index(m) for m in kept]}, {sum(map(message_tokens, kept))} tokens")
    lc_kwargs = {k: LC_ROLE.get(v, v) if isinstance(v, str) else v for k, v in kwargs.items()}
    theirs = trim_messages(convert_to_messages(history), max_tokens=50, allow_partial=False,
                           token_counter=lambda ms: sum(count_tokens(m.content) + PER_MESSAGE for m in ms),
                           **lc_kwargs)
    assert [m.content for m in theirs] == [m["content"] for m in kept]
# --8<-- [end:trim]

# --8<-- [start:random]
rng = random.Random(0)
words = ["the", "lamp", "turns", "every", "twelve", "seconds", "and", "keeper", "lights", "it", "at", "dusk"]
same = trimmed = 0
for _ in range(300):
    msgs = [{"role": rng.choice(["system", "user", "assistant", "user", "assistant"]),
             "content": " ".join(rng.choices(words, k=rng.randint(0, 12)))} for _ in range(rng.randint(0, 10))]
    strategy = rng.choice(["last", "first"])
    kwargs = {"end_on": rng.choice([None, "user", "assistant", ("user", "system")])}
    if strategy == "last":
        kwargs.update(include_system=rng.random() < 0.5, start_on=rng.choice([None, "user", "assistant"]))
    budget = rng.randint(1, 60)
    kept = trim_history(msgs, budget, message_tokens, strategy=strategy, **kwargs)
    lc_kwargs = {k: ([LC_ROLE[r] for r in v] if isinstance(v, tuple) else LC_ROLE.get(v, v))
                 if k != "include_system" else v for k, v in kwargs.items()}
    theirs = trim_messages(convert_to_messages(msgs), max_tokens=budget, strategy=strategy, allow_partial=False,
                           token_counter=lambda ms: sum(count_tokens(m.content) + PER_MESSAGE for m in ms),
                           **lc_kwargs)
    same += [(LC_ROLE[m["role"]], m["content"]) for m in kept] == [(m.type, m.content) for m in theirs]
    trimmed += len(kept) < len(msgs)
print(f"random conversations: {same}/300 equal to langchain_core's trim_messages ({trimmed} trimmed)")
assert same == 300
# --8<-- [end:random]
