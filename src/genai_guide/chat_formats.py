"""Chat formats: turn a list of chat messages into the one string a chat model was fine-tuned on.

A chat model reads a single token sequence, so a conversation ``[{"role": ..., "content": ...}, ...]``
must be laid out with exactly the role markers, special tokens and whitespace used in its
fine-tuning. Each format is written here twice:

- as plain Python string building (`format_chatml`, `format_llama2`, `format_mistral`), meant to be
  read, with input validation that names the faulty argument;
- as the Jinja chat template its publisher ships in ``tokenizer_config.json`` (`CHATML_TEMPLATE`,
  `LLAMA2_TEMPLATE`, `MISTRAL_TEMPLATE`), which ``tokenizer.apply_chat_template`` renders.

The tests check that both give byte-identical strings on random conversations. Which published
template each constant reproduces:

- `CHATML_TEMPLATE`: the ChatML template of e.g. ``teknium/OpenHermes-2.5-Mistral-7B``, the layout
  OpenAI described as Chat Markup Language (``chatml.md`` in openai-python, 2023).
- `LLAMA2_TEMPLATE`: ``meta-llama/Llama-2-7b-chat-hf`` (and 13b/70b), which renders the same string
  as Meta's reference ``chat_completion`` code for Llama 2-Chat (Touvron et al., 2023,
  arXiv:2307.09288).
- `MISTRAL_TEMPLATE`: the template first shipped with ``mistralai/Mistral-7B-Instruct-v0.1``
  (Jiang et al., 2023, arXiv:2310.06825). Later Mistral releases changed the whitespace and the
  handling of system messages; the chapter lists the differences.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # transformers is imported lazily: the formatters need only the standard library
    from transformers import PreTrainedTokenizerFast

__all__ = [
    "CHATML_TEMPLATE",
    "FORMATS",
    "LLAMA2_TEMPLATE",
    "MISTRAL_TEMPLATE",
    "ROLES",
    "SPECIAL_TOKENS",
    "ChatFormat",
    "diagnose_chat_ids",
    "find_double_bos",
    "format_chatml",
    "format_llama2",
    "format_mistral",
    "prepend_system_to_first_user",
    "tiny_chat_tokenizer",
    "validate_messages",
]

Message = Mapping[str, str]

ROLES = ("system", "user", "assistant")

# --- the published Jinja templates (as they read after JSON-decoding tokenizer_config.json) ---------

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

LLAMA2_TEMPLATE = (
    "{% if messages[0]['role'] == 'system' %}"
    "{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}"
    "{% else %}"
    "{% set loop_messages = messages %}{% set system_message = false %}"
    "{% endif %}"
    "{% for message in loop_messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{% endif %}"
    "{% if loop.index0 == 0 and system_message != false %}"
    "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
    "{% else %}"
    "{% set content = message['content'] %}"
    "{% endif %}"
    "{% if message['role'] == 'user' %}"
    "{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}"
    "{{ ' '  + content.strip() + ' ' + eos_token }}"
    "{% endif %}"
    "{% endfor %}"
)

MISTRAL_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{% endif %}"
    "{% if message['role'] == 'user' %}"
    "{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}"
    "{{ message['content'] + eos_token + ' ' }}"
    "{% else %}"
    "{{ raise_exception('Only user and assistant roles are supported!') }}"
    "{% endif %}"
    "{% endfor %}"
)

# Tokens that must stay whole: one id each, never split into pieces of ordinary text.
SPECIAL_TOKENS = ("<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>")


# --- validation -----------------------------------------------------------------------------------

def validate_messages(messages: Sequence[Message], *, system: str = "anywhere", alternate: bool = False) -> None:
    """Check a conversation before formatting it.

    Args:
        messages: a list of ``{"role": ..., "content": ...}`` dicts, ``role`` one of `ROLES`.
        system: where a ``system`` message may appear: ``"anywhere"``, ``"first"`` or ``"never"``.
        alternate: if True, the messages after the optional system message must go
            user, assistant, user, ... starting with user.

    Raises:
        TypeError: if ``messages`` is not a list of mappings, or a content is not a string.
        ValueError: if ``messages`` is empty, a role is unknown, a system message is misplaced, or the
            roles do not alternate where the format requires it.
    """
    if system not in ("anywhere", "first", "never"):
        raise ValueError(f"system must be 'anywhere', 'first' or 'never', got {system!r}")
    if isinstance(messages, (str, bytes, Mapping)) or not isinstance(messages, Sequence):
        raise TypeError(f"messages must be a list of {{'role': ..., 'content': ...}} dicts, got {type(messages).__name__}")
    if len(messages) == 0:
        raise ValueError("messages must not be empty")
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping) or "role" not in message or "content" not in message:
            raise TypeError(f"messages[{i}] must be a dict with 'role' and 'content' keys, got {message!r}")
        if message["role"] not in ROLES:
            raise ValueError(f"messages[{i}] has unknown role {message['role']!r}; expected one of {ROLES}")
        if not isinstance(message["content"], str):
            raise TypeError(f"messages[{i}]['content'] must be a str, got {type(message['content']).__name__}")
    system_at = [i for i, m in enumerate(messages) if m["role"] == "system"]
    if system == "never" and system_at:
        raise ValueError(f"messages[{system_at[0]}] has role 'system', which this format does not have "
                         "(fold it into the first user message)")
    if system == "first" and any(i != 0 for i in system_at):
        raise ValueError(f"messages[{next(i for i in system_at if i != 0)}] has role 'system' "
                         "(this format allows one system message, as the first message)")
    if alternate:
        turns = messages[1:] if messages[0]["role"] == "system" else messages
        if len(turns) == 0:
            raise ValueError("messages hold only a system message: add a user message")
        offset = len(messages) - len(turns)
        for j, message in enumerate(turns):
            expected = "user" if j % 2 == 0 else "assistant"
            if message["role"] != expected:
                raise ValueError(f"messages[{offset + j}] has role {message['role']!r} where {expected!r} is expected "
                                 "(roles must alternate user/assistant/..., after an optional system message)")


# --- the formatters -------------------------------------------------------------------------------

def format_chatml(messages: Sequence[Message], add_generation_prompt: bool = False) -> str:
    """ChatML: every message is ``<|im_start|>{role}\\n{content}<|im_end|>\\n``.

    With ``add_generation_prompt`` the string ends with ``<|im_start|>assistant\\n``, the opening of the
    turn the model must write. Roles may come in any order; contents are kept byte for byte.
    Equals ``apply_chat_template(messages, chat_template=CHATML_TEMPLATE, tokenize=False)``.
    """
    validate_messages(messages, system="anywhere", alternate=False)
    text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    if add_generation_prompt:
        text += "<|im_start|>assistant\n"
    return text


def format_llama2(messages: Sequence[Message], add_generation_prompt: bool = False, *,
                  bos_token: str = "<s>", eos_token: str = "</s>") -> str:
    """Llama 2-Chat: ``<s>[INST] {user} [/INST] {assistant} </s>`` for every exchange.

    An optional first system message goes *inside* the first instruction, between ``<<SYS>>`` and
    ``<</SYS>>``; contents are stripped of surrounding whitespace (the system block and the first user
    message are stripped together, as Meta's reference code does). ``add_generation_prompt`` is
    accepted for symmetry and changes nothing: a prompt that ends with ``[/INST]`` already asks for
    the answer. Equals ``apply_chat_template`` with `LLAMA2_TEMPLATE` (Touvron et al., 2023).

    Raises:
        ValueError: on an unknown role, a system message that is not first, or roles that do not
            alternate user/assistant starting with user.
    """
    validate_messages(messages, system="first", alternate=True)
    system = messages[0]["content"] if messages[0]["role"] == "system" else None
    turns = messages[1:] if system is not None else messages
    parts = []
    for i, message in enumerate(turns):
        content = message["content"]
        if i == 0 and system is not None:
            content = f"<<SYS>>\n{system}\n<</SYS>>\n\n{content}"
        if message["role"] == "user":
            parts.append(f"{bos_token}[INST] {content.strip()} [/INST]")
        else:
            parts.append(f" {content.strip()} {eos_token}")
    return "".join(parts)


def format_mistral(messages: Sequence[Message], add_generation_prompt: bool = False, *,
                   bos_token: str = "<s>", eos_token: str = "</s>") -> str:
    """Mistral instruct (v0.1): ``<s>[INST] {user} [/INST]{assistant}</s> [INST] ...``.

    One ``<s>`` for the whole conversation; contents are not stripped; no system role (fold a system
    prompt into the first user message with `prepend_system_to_first_user`). ``add_generation_prompt``
    changes nothing, as in Llama 2. Equals ``apply_chat_template`` with `MISTRAL_TEMPLATE`.

    Raises:
        ValueError: on an unknown or ``system`` role, or roles that do not alternate user/assistant.
    """
    validate_messages(messages, system="never", alternate=True)
    parts = [bos_token]
    for message in messages:
        if message["role"] == "user":
            parts.append(f"[INST] {message['content']} [/INST]")
        else:
            parts.append(f"{message['content']}{eos_token} ")
    return "".join(parts)


def prepend_system_to_first_user(messages: Sequence[Message]) -> list[dict[str, str]]:
    """Fold a leading system message into the first user message, joined by a blank line.

    This is how Mistral's reference tokenizer (``mistral-common``, tokenizer V1) places a system
    prompt for formats without a system role: ``"{system}\\n\\n{user}"``.
    """
    validate_messages(messages, system="first", alternate=False)
    if messages[0]["role"] != "system":
        return [dict(m) for m in messages]
    if len(messages) < 2 or messages[1]["role"] != "user":
        raise ValueError("messages[1] must be a user message to receive the system prompt")
    merged = {"role": "user", "content": f"{messages[0]['content']}\n\n{messages[1]['content']}"}
    return [merged, *(dict(m) for m in messages[2:])]


@dataclass(frozen=True)
class ChatFormat:
    """A chat format: the readable formatter, the published Jinja template, and its tokens.

    ``end_of_turn`` is the token that closes an assistant turn, the one generation stops on and the
    one training data must contain after every assistant message.
    """

    name: str
    render: Callable[..., str]
    template: str
    end_of_turn: str
    bos_token: str | None
    closes_every_message: bool


FORMATS: dict[str, ChatFormat] = {
    "chatml": ChatFormat("chatml", format_chatml, CHATML_TEMPLATE, end_of_turn="<|im_end|>", bos_token=None,
                         closes_every_message=True),
    "llama2": ChatFormat("llama2", format_llama2, LLAMA2_TEMPLATE, end_of_turn="</s>", bos_token="<s>",
                         closes_every_message=False),
    "mistral": ChatFormat("mistral", format_mistral, MISTRAL_TEMPLATE, end_of_turn="</s>", bos_token="<s>",
                          closes_every_message=False),
}


# --- token-level checks ---------------------------------------------------------------------------

def find_double_bos(ids: Sequence[int], bos_id: int) -> list[int]:
    """Positions ``i`` where ``ids[i]`` and ``ids[i + 1]`` are both the BOS id.

    Two BOS tokens in a row appear when a chat template already writes ``<s>`` and the tokenizer
    adds its own again (``tokenizer(text)`` with ``add_special_tokens=True``).
    """
    ids = list(ids)
    return [i for i in range(len(ids) - 1) if ids[i] == bos_id and ids[i + 1] == bos_id]


def diagnose_chat_ids(ids: Sequence[int], messages: Sequence[Message], chat_format: str | ChatFormat,
                      tokenizer: PreTrainedTokenizerFast) -> list[str]:
    """Problems found in the token ids of one formatted training conversation (empty if none).

    Checks two mistakes that raise no error anywhere: a doubled BOS, and turns that are not closed
    by the format's end-of-turn token (a model trained on them never learns to stop). ChatML closes
    every message with ``<|im_end|>``; Llama 2 and Mistral close every assistant message with ``</s>``.

    Args:
        ids: the token ids of the formatted conversation.
        messages: the conversation they were made from.
        chat_format: a `ChatFormat` or its name in `FORMATS`.
        tokenizer: the tokenizer that produced ``ids`` (to look up the special token ids).
    """
    fmt = _get_format(chat_format)
    ids = list(ids)
    problems = []
    if fmt.bos_token is not None and (doubled := find_double_bos(ids, tokenizer.convert_tokens_to_ids(fmt.bos_token))):
        problems.append(f"double BOS at position {doubled[0]}")
    closed = ids.count(tokenizer.convert_tokens_to_ids(fmt.end_of_turn))
    must_close = len(messages) if fmt.closes_every_message else sum(m["role"] == "assistant" for m in messages)
    if closed < must_close:
        problems.append(f"{must_close} turn(s) to close but {closed} {fmt.end_of_turn} token(s): "
                        "the model never sees where a turn ends")
    return problems


def _get_format(chat_format: str | ChatFormat) -> ChatFormat:
    if isinstance(chat_format, ChatFormat):
        return chat_format
    if chat_format not in FORMATS:
        raise ValueError(f"chat_format must be one of {sorted(FORMATS)}, got {chat_format!r}")
    return FORMATS[chat_format]


# --- a tiny tokenizer for experiments -------------------------------------------------------------

def tiny_chat_tokenizer(texts: Iterable[str], chat_template: str | None = None, *,
                        add_bos_token: bool = False) -> PreTrainedTokenizerFast:
    """A word-level `PreTrainedTokenizerFast` trained on ``texts``, with `SPECIAL_TOKENS` kept whole.

    Words and runs of punctuation become tokens (``[INST]`` is three ordinary tokens ``[``, ``INST``,
    ``]``, as in Llama 2's real tokenizer it is several pieces), while ``<s>``, ``</s>``,
    ``<|im_start|>`` and ``<|im_end|>`` are special tokens with one id each. With ``add_bos_token``
    the tokenizer prepends ``<s>`` whenever ``add_special_tokens=True``, like Llama's tokenizer.
    """
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    if isinstance(texts, str):
        raise TypeError("texts must be an iterable of strings, not a single str")
    core = Tokenizer(models.WordLevel(unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    plain = []  # train on the text between special tokens, as it is split at encoding time
    for text in texts:
        for token in SPECIAL_TOKENS:
            text = text.replace(token, " ")
        plain.append(text)
    core.train_from_iterator(plain, trainers.WordLevelTrainer(special_tokens=list(SPECIAL_TOKENS),
                                                              show_progress=False))
    if add_bos_token:
        core.post_processor = processors.TemplateProcessing(
            single="<s> $A", pair="<s> $A $B", special_tokens=[("<s>", core.token_to_id("<s>"))])
    return PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="</s>",
        extra_special_tokens=["<|im_start|>", "<|im_end|>"], chat_template=chat_template)
