"""From prompt to completion with a tiny GPT-2: tokens in and out, the generation loop written by
hand and checked against `generate()`, stopping, the KV cache, and the context window.

The model is a 2-block GPT2LMHeadModel built from a config (no download), with a word vocabulary made
in code from the harbour story, trained on the story for 100 steps: under a second on a CPU.
"""

# --8<-- [start:tokens]
import re

import torch

from genai_guide.texts import read_text

lines = read_text("harbour").splitlines()
WORD = re.compile(r"\w+(?:'\w+)?|[^\w\s]")  # a word (keeping "baker's" whole) or one punctuation mark
vocab = ["<eos>", *sorted({w for line in lines for w in WORD.findall(line)})]
EOS = 0  # id 0 is the end-of-sequence token: "this text is over"
stoi = {w: i for i, w in enumerate(vocab)}


def encode(text: str) -> list[int]:
    return [stoi[w] for w in WORD.findall(text)]


def decode(ids: list[int]) -> str:
    text = " ".join(vocab[i] for i in ids if i != EOS)
    return re.sub(r" (?=[,.:;!?])", "", text)  # no space before punctuation


assert all(decode(encode(line)) == line for line in lines)  # the tokenizer loses nothing
prompt = "The keeper climbed"
prompt_ids = encode(prompt)
print(f"vocabulary: {len(vocab)} tokens")
print(f"prompt: {prompt!r} -> {prompt_ids} ({len(prompt_ids)} tokens)")
# --8<-- [end:tokens]

# --8<-- [start:model]
import transformers
from transformers import GPT2Config, GPT2LMHeadModel

transformers.logging.set_verbosity_error()
torch.set_num_threads(1)  # the same numbers on every machine
torch.manual_seed(0)
CONTEXT = 32  # the context window: the model has 32 learned positions, 0 to 31
config = GPT2Config(vocab_size=len(vocab), n_positions=CONTEXT, n_embd=64, n_layer=2, n_head=4,
                    bos_token_id=EOS, eos_token_id=EOS, pad_token_id=EOS)  # special ids inside the vocabulary
model = GPT2LMHeadModel(config)
data = torch.tensor([i for line in lines for i in [*encode(line), EOS]])  # each line ends with <eos>
optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
for step in range(100):
    starts = torch.randint(0, len(data) - CONTEXT, (12,))
    batch = torch.stack([data[s : s + CONTEXT] for s in starts])  # (12, 32) windows of the story
    loss = model(batch, labels=batch).loss  # next-token cross-entropy (transformers shifts the labels)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
model.eval()  # dropout off: from here on, the same input gives the same logits
print(f"{sum(p.numel() for p in model.parameters()):,} parameters, training loss {loss.item():.2f}")
# --8<-- [end:model]

# --8<-- [start:loop]
@torch.no_grad()
def generate_by_hand(ids: list[int], max_new_tokens: int) -> list[int]:
    ids = torch.tensor([ids])  # (1, T): a batch of one prompt
    for _ in range(max_new_tokens):
        logits = model(ids).logits[:, -1, :]  # (1, V): scores for the token after the last one
        next_id = logits.argmax(dim=-1, keepdim=True)  # (1, 1): the most likely token (greedy)
        ids = torch.cat([ids, next_id], dim=1)  # append it: the output becomes part of the input
        if next_id.item() == EOS:  # the model says the text is over
            break
    return ids[0].tolist()


ours = generate_by_hand(prompt_ids, max_new_tokens=25)
theirs = model.generate(torch.tensor([prompt_ids]), max_new_tokens=25, do_sample=False)
assert ours == theirs[0].tolist()  # the same tokens as transformers' generate()
completion = ours[len(prompt_ids) :]
print(f"completion: {decode(completion)!r}")
print(f"tokens in: {len(prompt_ids)}, tokens out: {len(completion)}, last token: {vocab[completion[-1]]!r}")
# --8<-- [end:loop]

# --8<-- [start:stopping]
for max_new_tokens in (5, 25):
    new = generate_by_hand(prompt_ids, max_new_tokens)[len(prompt_ids) :]
    reason = "the end-of-sequence token" if new[-1] == EOS else "max_new_tokens"
    print(f"max_new_tokens={max_new_tokens:2}: {len(new):2} new tokens, stopped by {reason}")
# --8<-- [end:stopping]

# --8<-- [start:cache]
@torch.no_grad()
def generate_with_cache(ids: list[int], max_new_tokens: int) -> tuple[list[int], int]:
    out = model(torch.tensor([ids]), use_cache=True)  # prefill: the whole prompt in one pass
    processed, new = len(ids), []
    for _ in range(max_new_tokens):
        next_id = out.logits[:, -1, :].argmax(dim=-1, keepdim=True)  # (1, 1)
        new.append(next_id.item())
        if new[-1] == EOS or len(new) == max_new_tokens:
            break
        # decode step: only the new token goes in; the keys and values of the others come from the cache
        out = model(next_id, cache=out.cache, use_cache=True)
        processed += 1
    return ids + new, processed


cached, processed = generate_with_cache(prompt_ids, max_new_tokens=25)
assert cached == ours  # the cache changes the cost, not the tokens
without = sum(range(len(prompt_ids), len(ours)))  # the loop above reran the whole sequence every step
print(f"positions run through the model: {without} without the cache, {processed} with it")
# --8<-- [end:cache]

# --8<-- [start:overflow]
from genai_guide.decoding import greedy_search

long_ids = data[:30].tolist()  # a 30-token prompt: the first line, <eos>, the start of the second
print(f"prompt of {len(long_ids)} tokens, ending {decode(long_ids[-5:])!r}")
print(f"{len(long_ids)} + 10 new tokens > context window of {CONTEXT}")
try:
    model.generate(torch.tensor([long_ids]), max_new_tokens=10, do_sample=False)
except IndexError as err:  # position 32 has no row in the position-embedding table
    print(f"generate(): IndexError: {err}")

# Way out 1: keep only the last tokens of the prompt, so that prompt + new tokens fit.
kept = long_ids[-(CONTEXT - 10) :]
out = model.generate(torch.tensor([kept]), max_new_tokens=10, do_sample=False)[0].tolist()
print(f"left-truncated prompt ({len(kept)} tokens): ...{decode(out[len(kept):])!r}")

# Way out 2: a sliding window; at every step the model sees only the last CONTEXT tokens.
out = greedy_search(model, torch.tensor([long_ids]), 10, eos_token_id=EOS, context_length=CONTEXT)[0].tolist()
print(f"sliding window of {CONTEXT} tokens: ...{decode(out[len(long_ids):])!r}")
# --8<-- [end:overflow]
