"""Conversational RAG: follow-up questions rewritten with the chat history, history trimmed to a budget.

A retriever sees one query at a time. In a conversation the user's second question often leans on
the first ("When does the bakery open?" then "And what does it sell?"), and "what does it sell" on
its own matches nothing useful. The Conversational RAG chapter builds the pieces that fix this:

- `condense_question_prompt`: the prompt a real system sends to a language model to turn a
  follow-up into a standalone question (the "condense question" step);
- `rewrite_question`: an offline, rule-based stand-in for that model call, which replaces a
  pronoun of the follow-up with the most recent named thing of the history;
- `trim_history`: keep the newest (or oldest) messages that fit a token budget, with the same
  result as `langchain_core.messages.trim_messages` (`allow_partial=False`);
- `ConversationalRAG`: a session loop, one `ask` a turn: rewrite, retrieve, pack, prompt with
  numbered sources, answer, and append the turn to the history.

A message is a dict `{"role": ..., "content": ...}` with role `"system"`, `"user"` or
`"assistant"`, the format of `tokenizer.apply_chat_template` and of `genai_guide.chat_formats`.

Example:
    >>> from genai_guide.conversation import rewrite_question, trim_history
    >>> history = [{"role": "user", "content": "When does the bakery open?"},
    ...            {"role": "assistant", "content": "At five in the morning."}]
    >>> rewrite_question("And what does it sell?", history, entities=["bakery", "ferry"])
    'What does the bakery sell?'
    >>> kept = trim_history(history, 6, lambda m: len(m["content"].split()))  # 6 words: the answer only
    >>> len(kept), kept.pop()["role"]
    (1, 'assistant')
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from genai_guide._checks import check_int
from genai_guide.reranking import assemble_prompt, pack_context

__all__ = [
    "CONDENSE_QUESTION_TEMPLATE",
    "PRONOUNS",
    "ROLES",
    "ConversationalRAG",
    "Turn",
    "condense_question_prompt",
    "extractive_answer",
    "format_history",
    "rewrite_question",
    "trim_history",
]

Message = Mapping[str, str]

ROLES: tuple[str, ...] = ("system", "user", "assistant")
"""The roles a message may have."""

_LANGCHAIN_TYPES = {"system": "system", "user": "human", "assistant": "ai"}

CONDENSE_QUESTION_TEMPLATE = (
    "Given the following conversation and a follow up question, rephrase the follow up question to be "
    "a standalone question, in its original language.\n\n"
    "Chat History:\n{chat_history}\nFollow Up Input: {question}\nStandalone question:"
)
"""The condense-question prompt of LangChain's `ConversationalRetrievalChain`
(`langchain/chains/conversational_retrieval/prompts.py`), with `{chat_history}` and `{question}` to fill."""

PRONOUNS: dict[str, str] = {
    "it": "{}", "they": "{}", "them": "{}", "he": "{}", "she": "{}", "him": "{}", "her": "{}",
    "its": "{}'s", "their": "{}'s", "his": "{}'s",
}
"""The pronouns `rewrite_question` resolves, and how the named thing replaces each (`{}` is the thing)."""

_LEADING = re.compile(r"^\s*(?:and|so|but|also|then|ok|okay)\b[\s,]*", re.IGNORECASE)
_WHAT_ABOUT = re.compile(r"^\s*(?:and\s+)?(?:what|how)\s+about\s+(?P<thing>.+?)\s*\?*\s*$", re.IGNORECASE)


def _check_messages(name: str, messages: object) -> list[dict[str, str]]:
    """A sequence (possibly empty) of {"role", "content"} mappings with known roles; returned as dicts."""
    if isinstance(messages, (str, bytes, Mapping)) or not isinstance(messages, Sequence):
        raise TypeError(f"{name} must be a list of {{'role': ..., 'content': ...}} dicts, got {type(messages).__name__}")
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, Mapping) or "role" not in m or "content" not in m:
            raise TypeError(f"{name}[{i}] must be a dict with 'role' and 'content' keys, got {m!r}")
        if m["role"] not in ROLES:
            raise ValueError(f"{name}[{i}] has unknown role {m['role']!r}; expected one of {ROLES}")
        if not isinstance(m["content"], str):
            raise TypeError(f"{name}[{i}]['content'] must be a str, got {type(m['content']).__name__}")
        out.append({"role": m["role"], "content": m["content"]})
    return out


def _check_roles(name: str, roles: object) -> tuple[str, ...] | None:
    """None, one role, or a sequence of roles, as a tuple of known roles."""
    if roles is None:
        return None
    items = (roles,) if isinstance(roles, str) else roles
    if not isinstance(items, Sequence) or len(items) == 0:
        raise TypeError(f"{name} must be a role or a non-empty sequence of roles, got {roles!r}")
    for r in items:
        if r not in ROLES:
            raise ValueError(f"{name} has unknown role {r!r}; expected one of {ROLES}")
    return tuple(items)


def _check_question(question: object) -> str:
    if not isinstance(question, str):
        raise TypeError(f"question must be a str, got {type(question).__name__}")
    if not question.strip():
        raise ValueError("question must not be empty")
    return question


def trim_history(messages: Sequence[Message], max_tokens: int, token_counter: Callable[[dict[str, str]], int], *,
                 strategy: str = "last", include_system: bool = False,
                 start_on: str | Sequence[str] | None = None,
                 end_on: str | Sequence[str] | None = None) -> list[dict[str, str]]:
    """Keep the messages that fit a token budget: the newest ones (`"last"`) or the oldest (`"first"`).

    With `strategy="last"`, the newest messages are kept while their tokens add up to at most
    `max_tokens`,

    $$\\text{keep } m_{n-j+1}, \\dots, m_n \\text{ for the largest } j \\text{ with }
    \\sum_{i > n-j} \\text{tokens}(m_i) \\le B,$$

    whole messages only (no message is cut). In order, as `langchain_core.messages.trim_messages`
    does with `allow_partial=False`:

    1. `end_on`: trailing messages whose role is not in `end_on` are dropped first (`"last"`), or
       after the cut (`"first"`);
    2. `include_system` (`"last"` only): a system message at position 0 is kept whatever the
       budget, and its tokens are taken from the budget first (so a system message longer than the
       budget is returned alone, over budget);
    3. the budget is filled from the newest message backwards (`"last"`) or from the oldest forwards
       (`"first"`), stopping at the first message that does not fit;
    4. `start_on` (`"last"` only): leading kept messages whose role is not in `start_on` are
       dropped, so that, for example, the kept history starts with a user turn.

    An empty history is returned as an empty list (the first turn of a conversation has none).

    Args:
        messages: the history, oldest first: dicts with `role` in `ROLES` and a str `content`.
        max_tokens: the budget, at least 1.
        token_counter: one message -> its number of tokens, for example
            `lambda m: len(tok.encode(m["content"])) + 4` (4 for the role markers of a chat format).
            Must return a non-negative int.
        strategy: `"last"` (keep the newest) or `"first"` (keep the oldest).
        include_system: keep a leading system message (only with `"last"`).
        start_on: role(s) the kept history must start with (only with `"last"`).
        end_on: role(s) the kept history must end with.

    Returns:
        The kept messages (new dicts), in their original order.

    Raises:
        TypeError: if an argument has the wrong type, or `token_counter` returns a non-int.
        ValueError: if a role is unknown, `max_tokens < 1`, `strategy` is unknown, `include_system` or
            `start_on` is used with `"first"`, or `token_counter` returns a negative number.
    """
    msgs = _check_messages("messages", messages)
    check_int("max_tokens", max_tokens, 1)
    if not callable(token_counter):
        raise TypeError(f"token_counter must be callable, got {type(token_counter).__name__}")
    if strategy not in ("first", "last"):
        raise ValueError(f"strategy must be 'first' or 'last', got {strategy!r}")
    starts, ends = _check_roles("start_on", start_on), _check_roles("end_on", end_on)
    if strategy == "first" and starts is not None:
        raise ValueError("start_on is only valid with strategy='last'")
    if strategy == "first" and include_system:
        raise ValueError("include_system is only valid with strategy='last'")

    def count(m: dict[str, str]) -> int:
        n = token_counter(m)
        if not isinstance(n, int) or isinstance(n, bool):
            raise TypeError(f"token_counter must return an int, got {type(n).__name__}")
        if n < 0:
            raise ValueError(f"token_counter must return a count >= 0, got {n}")
        return n

    def fill(seq: list[dict[str, str]], budget: int) -> list[dict[str, str]]:
        """The longest prefix of seq whose tokens add up to at most budget."""
        kept, used = [], 0
        for m in seq:
            used += count(m)
            if used > budget:
                break
            kept.append(m)
        return kept

    if strategy == "first":
        kept = fill(msgs, max_tokens)
        while ends is not None and kept and kept[-1]["role"] not in ends:
            kept.pop()
        return kept

    while ends is not None and msgs and msgs[-1]["role"] not in ends:
        msgs.pop()
    system = None
    budget = max_tokens
    if include_system and msgs and msgs[0]["role"] == "system":
        system, msgs = msgs[0], msgs[1:]
        budget = max(0, max_tokens - count(system))
    kept = fill(msgs[::-1], budget)[::-1]  # newest first, then back to chronological order
    while starts is not None and kept and kept[0]["role"] not in starts:
        kept.pop(0)
    return [system, *kept] if system is not None else kept


def format_history(messages: Sequence[Message]) -> str:
    """The history as plain lines, `"User: ..."` and `"Assistant: ..."`, as a condense prompt shows it.

    Raises:
        TypeError, ValueError: as `trim_history` for a malformed message.
    """
    msgs = _check_messages("messages", messages)
    return "\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in msgs)


def condense_question_prompt(history: Sequence[Message], question: str,
                             template: str = CONDENSE_QUESTION_TEMPLATE) -> str:
    """The prompt that asks a language model to rewrite a follow-up question as a standalone one.

    This is the "condense question" step of conversational retrieval: the model reads the history
    and the follow-up and writes a question that can be understood, and retrieved for, without the
    history. Its output replaces the follow-up as the retriever's query; the answer prompt still
    gets the user's own words.

    Args:
        history: the earlier messages, oldest first (system messages are left out of the text).
        question: the follow-up question, not empty.
        template: a string with `{chat_history}` and `{question}` fields.

    Returns:
        The filled prompt.

    Raises:
        TypeError, ValueError: for a malformed history, an empty question or a template without the
            two fields.
    """
    msgs = [m for m in _check_messages("history", history) if m["role"] != "system"]
    _check_question(question)
    if not isinstance(template, str) or "{chat_history}" not in template or "{question}" not in template:
        raise ValueError("template must be a str with {chat_history} and {question} fields")
    return template.replace("{chat_history}", format_history(msgs)).replace("{question}", question)


def _find_entity(text: str, patterns: list[tuple[str, re.Pattern[str]]]) -> str | None:
    """The entity mentioned first in text (the longest one where two start at the same place)."""
    best: tuple[int, int, str] | None = None
    for entity, pattern in patterns:
        m = pattern.search(text)
        if m and (best is None or (m.start(), -len(entity)) < (best[0], best[1])):
            best = (m.start(), -len(entity), entity)
    return None if best is None else best[2]


def rewrite_question(question: str, history: Sequence[Message], entities: Sequence[str]) -> str:
    """A rule-based stand-in for the condense-question model call: resolve "it" from the history.

    The rules, in order:

    1. a leading "and", "so", "also", ... is dropped;
    2. the *topic* is found: the newest message of the history that mentions one of `entities`,
       and in it the entity mentioned first (its subject, usually);
    3. "what about X?" repeats the newest user question with its topic replaced by X;
    4. otherwise the first pronoun of `PRONOUNS` becomes `"the " + topic` ("its" becomes
       `"the " + topic + "'s"`); the rest of the question is left as it is.

    A question with no pronoun, an empty history, or no topic in the history is returned with
    only rule 1 applied. This is *not* what a language model does: it knows no grammar, resolves
    one pronoun, and only to a name in `entities`. It stands in for the model so that the pipeline
    runs offline; `condense_question_prompt` is what a real system sends.

    Args:
        question: the follow-up question, not empty.
        history: the earlier messages, oldest first (may be empty).
        entities: the names of things the conversation can be about (for example the titles of the
            knowledge base's passages), non-empty; matched case-insensitively as whole words.

    Returns:
        The rewritten question, starting with a capital letter.

    Raises:
        TypeError, ValueError: for a malformed history, an empty question or empty `entities`.
    """
    _check_question(question)
    msgs = [m for m in _check_messages("history", history) if m["role"] != "system"]
    if isinstance(entities, str) or not isinstance(entities, Sequence) or len(entities) == 0:
        raise ValueError("entities must be a non-empty sequence of str")
    for i, e in enumerate(entities):
        if not isinstance(e, str) or not e.strip():
            raise ValueError(f"entities[{i}] must be a non-empty str, got {e!r}")
    patterns = [(e, re.compile(rf"\b{re.escape(e)}\b", re.IGNORECASE)) for e in entities]

    q = _LEADING.sub("", question.strip())
    topic = next((t for m in reversed(msgs) if (t := _find_entity(m["content"], patterns)) is not None), None)
    about = _WHAT_ABOUT.match(question)
    if about and topic is not None:
        last_user = next((m["content"] for m in reversed(msgs) if m["role"] == "user"), None)
        if last_user is not None:
            old = _find_entity(last_user, patterns)
            if old is not None:
                thing = about.group("thing")
                thing = re.sub(r"^the\s+", "", thing, flags=re.IGNORECASE)
                pat = re.compile(rf"\b{re.escape(old)}\b", re.IGNORECASE)
                return pat.sub(lambda _: thing, last_user, count=1)
    if topic is not None:
        words = q.split(" ")
        for i, w in enumerate(words):
            core = re.sub(r"\W", "", w).lower()
            if core in PRONOUNS:
                tail = w[len(w.rstrip("?.!,")):]
                words[i] = "the " + PRONOUNS[core].format(topic) + tail
                q = " ".join(words)
                break
    return q[:1].upper() + q[1:] if q else q


def _stems(text: str) -> set[str]:
    """Lowercased words of 3+ letters cut to 4 characters: "sells" and "sell" meet, "fastest" and "fast" too."""
    return {w[:4] for w in re.findall(r"[a-z]{3,}", text.lower())}


def extractive_answer(passages: Sequence[str], question: str | None = None) -> str:
    """A deterministic stand-in for the answering model: one sentence of the best passage, cited `[1]`.

    Without a question, the best passage's first sentence; with one, its sentence that shares the
    most words (compared by their first four letters) with the question, the first on ties. No
    model writes anything here: this only makes the session loop runnable offline.

    Args:
        passages: the numbered sources, best first; may be empty.
        question: the (standalone) question, or None.

    Returns:
        `"<sentence> [1]"`, or `"I do not know."` when there is no source.
    """
    if len(passages) == 0:
        return "I do not know."
    sentences = re.split(r"(?<=[.!?])\s+", passages[0].strip())
    if question is not None:
        q = _stems(question)
        best = max(range(len(sentences)), key=lambda i: (len(q & _stems(sentences[i])), -i))
        return f"{sentences[best]} [1]"
    return f"{sentences[0]} [1]"


@dataclass
class Turn:
    """What happened in one turn of a `ConversationalRAG` session.

    Attributes:
        question: the user's question, as typed.
        standalone: the rewritten question that was sent to the retriever.
        sources: the packed passages, numbered `[1]`, `[2]`, ... in the prompt.
        messages: the chat messages sent to the model: system, the trimmed history, and the user
            message with the sources and the question.
        answer: the model's (here: the stand-in's) answer.
        history_tokens: the tokens of the trimmed history sent this turn.
    """

    question: str
    standalone: str
    sources: list[str]
    messages: list[dict[str, str]]
    answer: str
    history_tokens: int


@dataclass
class ConversationalRAG:
    """A chat session over a retriever: rewrite, retrieve, pack, prompt with numbered sources, answer.

    Each `ask` runs one turn:

    1. the question is rewritten into a standalone one with the history (`rewrite`);
    2. `retrieve` returns passages for the standalone question, best first;
    3. the passages are packed, whole, into `context_budget` tokens (`reranking.pack_context` with
       `truncate=False`: no half sentences for the model to misread) and numbered
       in the user message (`reranking.assemble_prompt`), which holds the user's *own* question;
    4. the history is trimmed to `history_budget` tokens (`trim_history`, newest kept, starting on
       a user turn) and sent between the system message and the new user message;
    5. `answer` writes the answer; the plain question and the answer join the history.

    The history keeps the questions and answers, not the sources: a later turn retrieves again.

    Attributes:
        retrieve: a standalone question -> passages, best first.
        count_tokens: a text -> its number of tokens.
        rewrite: (question, history) -> the standalone question.
        answer: (messages, sources) -> the answer; None: `extractive_answer(sources, standalone)`.
        system: the system message.
        history_budget: tokens for the trimmed history, at least 1.
        context_budget: tokens for the sources, at least 1.
        per_message_tokens: tokens a chat format adds around each message (role markers).
        history: the full conversation so far, oldest first.
    """

    retrieve: Callable[[str], Sequence[str]]
    count_tokens: Callable[[str], int]
    rewrite: Callable[[str, list[dict[str, str]]], str]
    answer: Callable[[list[dict[str, str]], list[str]], str] | None = None
    system: str = "You answer questions about the harbour town from the numbered sources only."
    history_budget: int = 60
    context_budget: int = 80
    per_message_tokens: int = 4
    history: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        for name in ("retrieve", "count_tokens", "rewrite"):
            if not callable(getattr(self, name)):
                raise TypeError(f"{name} must be callable, got {type(getattr(self, name)).__name__}")
        if self.answer is not None and not callable(self.answer):
            raise TypeError(f"answer must be callable or None, got {type(self.answer).__name__}")
        check_int("history_budget", self.history_budget, 1)
        check_int("context_budget", self.context_budget, 1)
        check_int("per_message_tokens", self.per_message_tokens, 0)
        self.history = _check_messages("history", self.history)

    def message_tokens(self, message: Mapping[str, str]) -> int:
        """The tokens of one message: its content plus `per_message_tokens`."""
        return self.count_tokens(message["content"]) + self.per_message_tokens

    def ask(self, question: str) -> Turn:
        """Run one turn (see the class docstring) and return what happened.

        Raises:
            ValueError: if `question` is empty.
        """
        _check_question(question)
        standalone = self.rewrite(question, list(self.history))
        ranked = list(self.retrieve(standalone))
        sources = pack_context(ranked, self.context_budget, self.count_tokens, truncate=False) if ranked else []
        trimmed = trim_history(self.history, self.history_budget, self.message_tokens,
                               start_on="user") if self.history else []
        user = {"role": "user", "content": assemble_prompt(question, sources) if sources else question}
        messages = [{"role": "system", "content": self.system}, *trimmed, user]
        reply = self.answer(messages, sources) if self.answer is not None else extractive_answer(sources, standalone)
        self.history += [{"role": "user", "content": question}, {"role": "assistant", "content": reply}]
        return Turn(question, standalone, sources, messages, reply,
                    sum(self.message_tokens(m) for m in trimmed))
