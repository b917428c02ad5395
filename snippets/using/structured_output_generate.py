"""An untrained GPT-2 writes valid JSON once an FSMLogitsProcessor masks the tokens that would break it."""

# --8<-- [start:setup]
from typing import Literal

import torch
import transformers
from pydantic import BaseModel, Field, ValidationError
from transformers import GPT2Config, GPT2LMHeadModel, LogitsProcessorList

from genai_guide.constrained import FSMLogitsProcessor, TokenIndex, compile_pattern, json_pattern

transformers.logging.set_verbosity_error()
torch.set_num_threads(1)  # the same numbers on every machine, and no slowdown on a busy CPU


class Ticket(BaseModel):
    priority: Literal["low", "medium", "high"]
    hours: int = Field(ge=0, le=999)
    urgent: bool
    summary: str = Field(max_length=20)


EOS = 0
vocab = ([None] + list('{}":, .-') + list("abcdefghijklmnopqrstuvwxyz0123456789")
         + ['{"', '":', '","', '":"', "true", "false", "priority", "hours", "urgent", "summary",
            "low", "medium", "high", "lamp", " the", " is", " out"])  # characters and a few words
index = TokenIndex(compile_pattern(json_pattern(Ticket)), vocab, eos_token_id=EOS)

torch.manual_seed(0)
config = GPT2Config(vocab_size=len(vocab), n_positions=128, n_embd=32, n_layer=2, n_head=2,
                    bos_token_id=EOS, eos_token_id=EOS, pad_token_id=EOS)
model = GPT2LMHeadModel(config).eval()  # random weights: it has learned nothing
prompt = torch.tensor([[EOS]])  # generation starts from the EOS token, as GPT-2 does
# --8<-- [end:setup]

# --8<-- [start:free]
free = model.generate(prompt, max_new_tokens=30, do_sample=True)
text = index.decode(free[0, 1:].tolist())
print("unconstrained:", repr(text))
try:
    Ticket.model_validate_json(text)
except ValidationError as error:
    print("  ->", error.errors()[0]["type"])
# --8<-- [end:free]

# --8<-- [start:constrained]
processor = FSMLogitsProcessor(index, prompt_length=prompt.shape[1])
max_new = index.fsm.max_length() + 1  # enough for the longest string, one character per token, then EOS
greedy = model.generate(prompt, max_new_tokens=max_new, do_sample=False,
                        logits_processor=LogitsProcessorList([processor]))
print("\nconstrained, greedy: ", index.decode(greedy[0, 1:].tolist()))
sampled = model.generate(prompt, max_new_tokens=max_new, do_sample=True, num_return_sequences=4,
                         logits_processor=LogitsProcessorList([processor]))
for row in sampled:
    print("constrained, sampled:", index.decode(row[1:].tolist()))
for row in [greedy[0], *sampled]:
    assert row[1:].tolist().count(EOS) >= 1  # every output ended with EOS, none was cut off
    Ticket.model_validate_json(index.decode(row[1:].tolist()))  # raises if invalid: it never does
print("all 5 outputs validate as Ticket")
# --8<-- [end:constrained]
