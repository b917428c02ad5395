"""Validate with pydantic, and retry with the errors quoted back, around any generate(prompt) -> str."""

# --8<-- [start:retry]
from typing import Literal

from pydantic import BaseModel, Field

from genai_guide.constrained import StructuredOutputError, generate_validated


class Ticket(BaseModel):
    priority: Literal["low", "medium", "high"]
    hours: int = Field(ge=0, le=999)
    urgent: bool
    summary: str = Field(max_length=20)


def scripted_model(replies: list[str]):
    """A stand-in for a chat model: returns the given replies in order (no model is run here)."""
    calls = iter(replies)
    return lambda prompt: next(calls)


replies = [
    'Sure! Here is your ticket: {"priority": "urgent", "hours": 3}',
    '{"priority": "high", "hours": -3, "urgent": "maybe", "summary": "lamp out"}',
    '```json\n{"priority": "high", "hours": 3, "urgent": true, "summary": "lamp out"}\n```',
]
request = "The harbour lamp is out. Write a ticket as JSON with priority, hours, urgent and summary."
ticket, attempts = generate_validated(scripted_model(replies), Ticket, request, max_attempts=3)
for i, attempt in enumerate(attempts, 1):
    print(f"attempt {i}: {'valid' if not attempt.errors else '; '.join(attempt.errors)}")
print("result:", repr(ticket))
print("\nthe prompt of attempt 3:\n" + attempts[2].prompt)

try:
    generate_validated(scripted_model(replies), Ticket, request, max_attempts=2)
except StructuredOutputError as error:
    print("\nwith max_attempts=2:", type(error).__name__, f"after {len(error.attempts)} attempts")
# --8<-- [end:retry]
