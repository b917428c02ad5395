"""From a pattern to a finite-state machine, and from characters to the tokens allowed in each state."""

# --8<-- [start:choice]
from genai_guide.constrained import TokenIndex, choice, compile_pattern

labels = compile_pattern(choice(["positive", "negative", "neutral"]))
print(f"choice list: {len(labels.transitions)} states, accepts 'neutral': {labels.accepts('neutral')},"
      f" 'neutr': {labels.accepts('neutr')}, 'nice': {labels.accepts('nice')}")

vocab = [None, "pos", "neg", "ne", "u", "tral", "itive", "ative", "n", "e", "x"]  # id 0 is EOS
index = TokenIndex(labels, vocab, eos_token_id=0)
for prefix in [[], [3], [3, 4], [3, 4, 5]]:
    state = index.walk_ids(prefix)
    allowed = [vocab[t] or "EOS" for t in index.allowed(state)]
    print(f"after {index.decode(prefix)!r:10} allowed: {allowed}")
# --8<-- [end:choice]

# --8<-- [start:schema]
from typing import Literal

from pydantic import BaseModel, Field

from genai_guide.constrained import json_pattern


class Ticket(BaseModel):
    priority: Literal["low", "medium", "high"]
    hours: int = Field(ge=0, le=999)
    urgent: bool
    summary: str = Field(max_length=20)


pattern = json_pattern(Ticket)
fsm = compile_pattern(pattern)
print(f"\nTicket JSON: {len(fsm.transitions)} states, longest string {fsm.max_length()} characters")
print("regex:", pattern.to_regex()[:72] + "...")
candidates = [
    Ticket(priority="high", hours=12, urgent=True, summary="lamp is out").model_dump_json(),
    '{"priority":"high","hours":12,"urgent":"yes","summary":"lamp is out"}',
    '{"priority":"high","hours":1200,"urgent":true,"summary":"lamp is out"}',
    '{"priority": "high", "hours": 12, "urgent": true, "summary": "lamp is out"}',
]
for text in candidates:
    print(f"{fsm.accepts(text)!s:5} {text}")
assert fsm.accepts(candidates[0]) and not any(fsm.accepts(t) for t in candidates[1:])
# --8<-- [end:schema]
