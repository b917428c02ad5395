"""Greedy decoding, beam search, the repetition penalty and stop sequences on a tiny trained GPT-2,
each run with genai_guide.decoding and checked token for token against transformers' generate()."""

# --8<-- [start:model]
import re

import torch
import transformers
from transformers import GPT2Config, GPT2LMHeadModel

from genai_guide.decoding import beam_search, greedy_search, truncate_at_stop
from genai_guide.texts import read_text

transformers.logging.set_verbosity_error()
torch.set_num_threads(1)
torch.manual_seed(0)

# A word vocabulary made from the story (id 0 is <eos>), as in the Inference chapter.
lines = read_text("harbour").splitlines()
WORD = re.compile(r"\w+(?:'\w+)?|[^\w\s]")
vocab = ["<eos>", *sorted({w for line in lines for w in WORD.findall(line)})]
EOS, stoi = 0, {w: i for i, w in enumerate(vocab)}


def encode(text: str) -> list[int]:
    return [stoi[w] for w in WORD.findall(text)]


def decode(ids: list[int]) -> str:
    return re.sub(r" (?=[,.:;!?])", "", " ".join(vocab[i] for i in ids if i != EOS))


# The 2-block GPT-2 of the Inference chapter, trained for 100 steps: fluent in places, loopy in others.
config = GPT2Config(vocab_size=len(vocab), n_positions=32, n_embd=64, n_layer=2, n_head=4,
                    bos_token_id=EOS, eos_token_id=EOS, pad_token_id=EOS)
model = GPT2LMHeadModel(config)
data = torch.tensor([i for line in lines for i in [*encode(line), EOS]])
optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
for step in range(100):
    starts = torch.randint(0, len(data) - 32, (12,))
    batch = torch.stack([data[s : s + 32] for s in starts])
    loss = model(batch, labels=batch).loss
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
model.eval()
prompt = torch.tensor([encode("The teacher")])  # (1, 2)


@torch.no_grad()
def avg_logprob(ids: torch.Tensor) -> float:
    """Mean log-probability of the generated tokens (those after the prompt) under the model."""
    n = prompt.shape[1]
    logp = model(ids).logits[0, :-1].log_softmax(-1)  # (T-1, V): row t predicts token t+1
    return logp[n - 1 :].gather(1, ids[0, n:, None]).mean().item()
# --8<-- [end:model]

# --8<-- [start:greedy-beam]
greedy = greedy_search(model, prompt, 20, eos_token_id=EOS)
assert torch.equal(greedy, model.generate(prompt, max_new_tokens=20, do_sample=False))
print(f"{'greedy':20} {avg_logprob(greedy):6.3f}  {decode(greedy[0].tolist())!r}")

for num_beams in (2, 4):
    beams = beam_search(model, prompt, num_beams, 20, eos_token_id=EOS, num_return_sequences=num_beams)
    theirs = model.generate(prompt, max_new_tokens=20, num_beams=num_beams, num_return_sequences=num_beams,
                            do_sample=False, return_dict_in_generate=True, output_scores=True)
    assert torch.equal(beams.sequences, theirs.sequences)  # the same hypotheses, in the same order
    assert torch.allclose(beams.scores, theirs.sequences_scores, atol=1e-5)  # and the same scores
    best = beams.sequences[:1]  # the best hypothesis, cut after its <eos> (the rest is padding)
    best = best[:, : best[0].tolist().index(EOS) + 1] if EOS in best[0].tolist() else best
    assert abs(avg_logprob(best) - beams.scores[0].item()) < 1e-4  # its score: mean log-probability
    print(f"{f'beam search, {num_beams} beams':20} {beams.scores[0].item():6.3f}  {decode(best[0].tolist())!r}")
# --8<-- [end:greedy-beam]

# --8<-- [start:penalty]
penalized = greedy_search(model, prompt, 20, eos_token_id=EOS, repetition_penalty=1.3)
assert torch.equal(penalized, model.generate(prompt, max_new_tokens=20, do_sample=False, repetition_penalty=1.3))
print(f"{'greedy, penalty 1.3':20} {avg_logprob(penalized):6.3f}  {decode(penalized[0].tolist())!r}")
# --8<-- [end:penalty]

# --8<-- [start:stop]
short = greedy_search(model, prompt, 5, eos_token_id=EOS)  # max_new_tokens cuts wherever it falls
print(f"max_new_tokens=5: {decode(short[0].tolist())!r}")
for stops in (["."], [",", " the oldest"]):
    stopped = greedy_search(model, prompt, 20, eos_token_id=EOS, stop_sequences=stops, decode=decode)
    assert torch.equal(stopped, greedy[:, : stopped.shape[1]])  # the same tokens, cut early
    text = decode(stopped[0].tolist())
    print(f"stop at {stops}: {text!r} -> {truncate_at_stop(text, stops)!r}")
# --8<-- [end:stop]
