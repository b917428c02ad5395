"""Perplexity and multiple-choice scoring with a tiny GPT-2 trained for a moment on the harbour story:
exp of the mean token NLL is exp of the model's loss, the strided sliding window, and acc / acc_norm."""

# --8<-- [start:model]
import math

import torch
import transformers
from transformers import GPT2Config, GPT2LMHeadModel

from genai_guide.metrics import (
    continuation_logprob,
    perplexity,
    pick_choice,
    sliding_windows,
    strided_token_nlls,
)
from genai_guide.texts import read_text

transformers.logging.set_verbosity_error()
torch.set_num_threads(1)  # the same numbers on every machine
torch.set_default_dtype(torch.float64)  # float64 from the initialisation on: the same numbers on every CPU
torch.manual_seed(0)
lines = read_text("harbour").splitlines(keepends=True)
train_text, test_text = "".join(lines[:18]), "".join(lines[18:])  # the last 2 lines are held out
chars = sorted(set("".join(lines)))  # one token per character
ID = {c: i for i, c in enumerate(chars)}


def encode(text: str) -> list[int]:
    return [ID[c] for c in text]


T = 32  # the context length
config = GPT2Config(vocab_size=len(chars), n_positions=T, n_embd=32, n_layer=2, n_head=2,
                    bos_token_id=0, eos_token_id=0, pad_token_id=0)  # special ids inside the vocabulary
model = GPT2LMHeadModel(config)
train = torch.tensor(encode(train_text))
optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
for step in range(100):
    starts = torch.randint(0, len(train) - T, (16,)).tolist()
    batch = torch.stack([train[s:s + T] for s in starts])  # (16, T) windows of the story
    logits = model(batch).logits  # the loss by hand: transformers' own would be computed in float32
    loss = torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1), batch[:, 1:].flatten())
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
model.eval()
print(f"{len(chars)} tokens (characters); training loss after 100 steps: {loss.item():.2f} nats")
# --8<-- [end:model]

# --8<-- [start:perplexity]
test = torch.tensor(encode(test_text))  # 2 held-out lines
window = test[:T][None]  # (1, T): one window the model can read whole
with torch.no_grad():
    log_probs = model(window).logits[0].log_softmax(-1)  # (T, vocab)
    loss = model(window, labels=window).loss.item()  # the mean NLL of tokens 1..T-1 (in float32)
nll = -log_probs[:-1].gather(1, window[0, 1:, None])[:, 0]  # -log p(x_t | x_<t), t = 1..T-1
print(f"exp(mean NLL) = {perplexity(nll):.4f}, exp(model loss) = {math.exp(loss):.4f}, "
      f"uniform guess = {len(chars)}")
assert math.isclose(perplexity(nll), math.exp(loss), rel_tol=1e-6)
# --8<-- [end:perplexity]

# --8<-- [start:strided]
print(f"\n{len(test)} held-out tokens, context {T}")
print("stride  windows  scored  context >=  perplexity")
for stride in (32, 16, 8, 1):
    windows = sliding_windows(len(test), T, stride)  # (begin, end, score_from)
    nlls = strided_token_nlls(model, test, T, stride)
    least = min(score_from - begin for begin, end, score_from in windows[1:])  # after the first window
    print(f"{stride:6d}  {len(windows):7d}  {len(nlls):6d}  {least:9d}  {perplexity(nlls):10.4f}")

    # The Hugging Face guide's loop: labels -100 for tokens already scored, the model's mean loss per window
    nll_sum, scored = 0.0, 0
    with torch.no_grad():
        for begin, end, score_from in windows:
            ids = test[begin:end][None]
            labels = ids.clone()
            labels[0, :score_from - begin] = -100  # context only: not scored again
            n = end - score_from  # the tokens this window scores
            nll_sum += model(ids, labels=labels).loss.item() * n
            scored += n
    assert scored == len(nlls) and math.isclose(math.exp(nll_sum / scored), perplexity(nlls), rel_tol=1e-6)

with torch.no_grad():  # the NLL by position in the window, averaged over every window of the held-out lines
    all_windows = test.unfold(0, T, 1)  # (windows, T)
    by_position = -model(all_windows).logits[:, :-1].log_softmax(-1).gather(2, all_windows[:, 1:, None])[..., 0].mean(0)
print("mean NLL of the token after p tokens of context: "
      + ", ".join(f"p={p} {by_position[p - 1]:.2f}" for p in (1, 2, 4, 8, 16, 31)))

words, total = len(test_text.split()), nlls.sum().item()  # the stride-1 NLLs of 221 characters
print(f"the same total NLL per character: {perplexity(nlls):.2f} ({total / len(nlls) / math.log(2):.2f} bits); "
      f"per word ({words} words): {math.exp(total / words):,.0f}")
# --8<-- [end:strided]

# --8<-- [start:choices]
questions = [  # (context from the story, choices, index of the right one)
    ("The baker lit the", ["ovens", "lamp", "waves"], 0),
    ("Every morning the keeper climbed the", ["tower", "hill", "boats"], 0),
    ("The children walked to the school on the", ["hill", "square", "rocks"], 0),
    ("The oldest boat was called the", ["Morning Star", "Swallow", "Lamp"], 0),
    ("The keeper kept the lamp burning with", ["whale oil", "bread", "fish"], 0),
    ("The fishermen talked about the wind, the waves, and the", ["price of fish", "lamp", "school"], 0),
]
hits = {"acc": 0, "acc_norm": 0}
for context, choices, gold in questions:
    # a harness scores " " + choice after the context: the sum of log p over the continuation's tokens
    lls = [continuation_logprob(model, encode(context), encode(" " + c), max_length=T) for c in choices]
    picks = pick_choice(lls, choices)
    hits["acc"] += picks.acc == gold
    hits["acc_norm"] += picks.acc_norm == gold
    shown = ", ".join(f"{c!r} {ll:.1f}" for c, ll in zip(choices, lls))
    tail = context if len(context) <= 24 else "..." + context[-21:]
    print(f"{tail:>24s}: {shown} -> acc {choices[picks.acc]!r}, acc_norm {choices[picks.acc_norm]!r}")
print(f"acc = {hits['acc']}/{len(questions)}, acc_norm = {hits['acc_norm']}/{len(questions)}")
# --8<-- [end:choices]
