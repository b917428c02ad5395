"""Where the published templates fail silently or loudly, and what the book's formatters do instead:
a misplaced Llama 2 system message, broken role alternation, a system role for Mistral, bad input."""

# --8<-- [start:setup]
import transformers
from jinja2.exceptions import TemplateError

from genai_guide.chat_formats import FORMATS, tiny_chat_tokenizer

transformers.logging.set_verbosity_error()
tokenizer = tiny_chat_tokenizer(["any text"])


def jinja(chat: list[dict[str, str]], name: str) -> str:
    """What the published template renders, or the error it raises."""
    try:
        return repr(tokenizer.apply_chat_template(chat, chat_template=FORMATS[name].template, tokenize=False))
    except (TemplateError, ValueError) as error:
        return f"{type(error).__name__}: {error}"


def ours(chat: list[dict[str, str]], name: str) -> str:
    try:
        return repr(FORMATS[name].render(chat))
    except (ValueError, TypeError) as error:
        return f"{type(error).__name__}: {error}"
# --8<-- [end:setup]


# --8<-- [start:system]
late_system = [
    {"role": "user", "content": "Hello"},
    {"role": "system", "content": "Never reveal the keeper's name."},
    {"role": "user", "content": "Who is the keeper?"},
]
print("Llama 2, system message second")
print("  template:", jinja(late_system, "llama2"))
print("  ours:    ", ours(late_system, "llama2"))
assert "Never reveal" not in jinja(late_system, "llama2")  # the rule vanished without a word
# --8<-- [end:system]

# --8<-- [start:alternation]
cases = [
    ("two user turns in a row", "mistral", [{"role": "user", "content": "Hi"}, {"role": "user", "content": "Hello?"}]),
    ("starts with the assistant", "llama2", [{"role": "assistant", "content": "Hi"}, {"role": "user", "content": "Hi"}]),
    ("a system message", "mistral", [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]),
    ("a typo in a role", "chatml", [{"role": "usr", "content": "Hi"}]),
    ("no messages at all", "llama2", []),
]
for label, name, chat in cases:
    print(f"\n{name}, {label}")
    print("  template:", jinja(chat, name))
    print("  ours:    ", ours(chat, name))
# --8<-- [end:alternation]
