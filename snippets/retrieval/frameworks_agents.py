"""A two-agent conversation with the shape of AutoGen's round-robin team, in plain Python: a writer whose
replies are replayed and a critic built on the book's citation check take turns until the critic says
APPROVE or a message budget runs out; then Instructor's idea: a reply validated by a pydantic model, and
asked again with the validation errors when it fails."""

# --8<-- [start:team]
import itertools
from collections.abc import Callable
from dataclasses import dataclass

from genai_guide.reranking import check_citations


@dataclass(frozen=True)
class Message:
    source: str  # who wrote it: "user" or an agent's name
    content: str


class ReplayClient:
    """Returns fixed replies in order, like autogen_ext's ReplayChatCompletionClient: a model stand-in."""

    def __init__(self, replies: list[str]) -> None:
        self.replies, self.calls = list(replies), 0

    def __call__(self, messages: list[Message]) -> str:
        if self.calls == len(self.replies):
            raise ValueError("No more mock responses available")
        self.calls += 1
        return self.replies[self.calls - 1]


def critic(messages: list[Message]) -> str:
    """Reviews the last answer with the book's citation check (3 numbered sources in the writer's prompt)."""
    if check_citations(messages[-1].content, n_sources=3).ok:
        return "APPROVE"
    return "The answer cites no source: cite the passage as [n]."


def round_robin(agents: dict[str, Callable[[list[Message]], str]], task: str, *,
                stop_text: str = "APPROVE", max_messages: int = 6) -> tuple[list[Message], str]:
    """Agents speak in turn, each reading the whole conversation, until a message mentions
    `stop_text` or there are `max_messages` messages (the task included), as in AutoGen."""
    messages = [Message("user", task)]
    for name in itertools.cycle(agents):
        if stop_text in messages[-1].content:
            return messages, f"Text '{stop_text}' mentioned"
        if len(messages) >= max_messages:
            return messages, f"Maximum number of messages {max_messages} reached, current message count: {len(messages)}"
        messages.append(Message(name, agents[name](messages)))


writer = ReplayClient(["Visiting yachts pay eight crowns a night.",
                       "Visiting yachts pay harbour dues of eight crowns a night [1]."])
task = "How much does a visiting yacht pay in harbour dues?"
transcript, stop_reason = round_robin({"writer": writer, "critic": critic}, task)
for message in transcript:
    print(f"{message.source:>6} | {message.content}")
print("stop:", stop_reason)
assert [m.source for m in transcript] == ["user", "writer", "critic", "writer", "critic"]
assert stop_reason == "Text 'APPROVE' mentioned" and writer.calls == 2

stubborn = ReplayClient(["Eight crowns a night."] * 3)  # a writer that never cites: the budget stops it
_, stop_reason = round_robin({"writer": stubborn, "critic": critic}, task, max_messages=4)
print("never cites:", stop_reason)
assert stop_reason.startswith("Maximum number of messages 4") and stubborn.calls == 2
# --8<-- [end:team]

# --8<-- [start:instructor]
from pydantic import BaseModel, Field, ValidationError, field_validator


class CitedAnswer(BaseModel):
    """The reply format: an answer and the numbers of the sources it rests on (the prompt had 3)."""

    answer: str = Field(min_length=1)
    sources: list[int] = Field(min_length=1)

    @field_validator("sources")
    @classmethod
    def sources_in_prompt(cls, sources: list[int]) -> list[int]:
        if unknown := [n for n in sources if not 1 <= n <= 3]:
            raise ValueError(f"sources {unknown} are not in the prompt, which has sources 1 to 3")
        return sources


def create(model: Callable[[list[Message]], str], response_model: type[BaseModel], prompt: str,
           max_retries: int = 2) -> tuple[BaseModel, list[Message]]:
    """Instructor's loop: validate the reply with the pydantic model; on failure, append the reply and
    the validation errors to the conversation and ask again, at most `max_retries` more times."""
    messages = [Message("user", prompt)]
    for _ in range(max_retries + 1):
        reply = model(messages)
        messages.append(Message("assistant", reply))
        try:
            return response_model.model_validate_json(reply), messages
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
            messages.append(Message("user", f"Correct your reply. Validation errors: {problems}"))
    raise ValueError(f"no valid reply after {max_retries + 1} attempts: {problems}")


model = ReplayClient(['{"answer": "eight crowns a night", "sources": [4]}',
                      '{"answer": "eight crowns a night", "sources": [1]}'])
reply, conversation = create(model, CitedAnswer, task + " Reply as JSON with answer and sources.")
for message in conversation[1:]:
    print(f"{message.source:>9} | {message.content}")
print("validated:", repr(reply))
assert reply == CitedAnswer(answer="eight crowns a night", sources=[1]) and model.calls == 2
try:
    create(ReplayClient(['{"answer": "eight crowns"}'] * 3), CitedAnswer, task)  # never valid
    raise AssertionError("three invalid replies must fail")
except ValueError as error:
    print("never valid:", error)
# --8<-- [end:instructor]
