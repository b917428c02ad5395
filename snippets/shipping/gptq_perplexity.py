"""A tiny GPT-2 trained for a moment on the harbour story, its weights quantized to 4, 3 and 2 bits by
round-to-nearest, GPTQ and AWQ, and the perplexity and layer output error of each, side by side."""

# --8<-- [start:model]
import torch
import transformers
from transformers import GPT2Config, GPT2LMHeadModel
from transformers.pytorch_utils import Conv1D

from genai_guide.gptq import awq_quantize, gptq_hessian, gptq_quantize, output_error, rtn_quantize
from genai_guide.metrics import perplexity
from genai_guide.texts import read_text

transformers.logging.set_verbosity_error()
torch.set_num_threads(1)  # the same numbers on every machine
torch.set_default_dtype(torch.float64)  # float64 from the initialisation on: the same numbers on every CPU
torch.manual_seed(0)
lines = read_text("harbour").splitlines(keepends=True)
chars = sorted(set("".join(lines)))  # one token per character
ID = {c: i for i, c in enumerate(chars)}
train = torch.tensor([ID[c] for c in "".join(lines[:18])])  # the last 2 lines are held out
test = torch.tensor([ID[c] for c in "".join(lines[18:])])

T = 32  # the context length
config = GPT2Config(vocab_size=len(chars), n_positions=T, n_embd=32, n_layer=2, n_head=2,
                    bos_token_id=0, eos_token_id=0, pad_token_id=0)  # special ids inside the vocabulary
model = GPT2LMHeadModel(config)
optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)  # a larger rate trains chaotically: other CPUs, other weights
for step in range(150):
    starts = torch.randint(0, len(train) - T, (16,)).tolist()
    batch = torch.stack([train[s:s + T] for s in starts])  # (16, T) windows of the story
    logits = model(batch).logits
    loss = torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1), batch[:, 1:].flatten())
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
model.eval()
print(f"{len(chars)} tokens (characters); training loss after 150 steps: {loss.item():.2f} nats")
# --8<-- [end:model]

# --8<-- [start:calibrate]
story, held_out = train.unfold(0, T, T), test.unfold(0, T, T // 2)  # (63, T) and (12, T) windows
calibration = story[::4]  # 16 windows, 512 tokens of the story: the calibration set


def eval_perplexity(windows: torch.Tensor) -> float:
    with torch.no_grad():
        log_probs = model(windows).logits[:, :-1].log_softmax(-1)
    return perplexity(-log_probs.gather(2, windows[:, 1:, None]).flatten())


# The linear layers of the blocks (GPT-2's Conv1D stores W transposed: (in, out)); the embeddings,
# tied to the output head, stay in float.
layers = {name: m for name, m in model.named_modules() if isinstance(m, Conv1D)}
weights = {name: m.weight.detach().T.clone() for name, m in layers.items()}  # (out, in) as nn.Linear
inputs = {}  # each layer's calibration inputs X^T, (tokens, in), from the full-precision model
hooks = [m.register_forward_hook(lambda module, args, out, name=name: inputs.update({name: args[0].flatten(0, 1)}))
         for name, m in layers.items()]
with torch.no_grad():
    model(calibration)
for hook in hooks:
    hook.remove()
print(f"{len(layers)} linear layers, {sum(w.numel() for w in weights.values()):,} weights, "
      f"calibrated on {calibration.numel()} tokens")
# --8<-- [end:calibrate]

# --8<-- [start:compare]
METHODS = {
    "round-to-nearest": lambda w, x, bits: rtn_quantize(w, bits),  # one scale per output row
    "GPTQ": lambda w, x, bits: gptq_quantize(w, gptq_hessian(x), bits),
    "AWQ": lambda w, x, bits: awq_quantize(w, x, bits).weight,  # Q(W diag(s)) diag(s)^-1
}


def evaluate(method: str | None, bits: int = 16) -> tuple[float, float, float]:
    error = 0.0  # sum over layers of ||WX - ŴX||² / ||WX||²
    for name, m in layers.items():
        w, x = weights[name], inputs[name]
        w_hat = w if method is None else METHODS[method](w, x, bits)
        error += (output_error(w, w_hat, x) / (x @ w.T).square().sum()).item()
        m.weight.data.copy_(w_hat.T)
    return eval_perplexity(story), eval_perplexity(held_out), error / len(layers)


results = {("float64", 64): evaluate(None)}
for bits in (4, 3, 2):
    for method in METHODS:
        results[method, bits] = evaluate(method, bits)
print(f"{'weights':17s} {'bits':>4s} {'perplexity (story)':>18s} {'(held out)':>10s} {'layer error':>11s}")
for (method, bits), (story_ppl, held_ppl, error) in results.items():
    print(f"{method:17s} {bits:4d} {story_ppl:18.3f} {held_ppl:10.3f} {error:11.2e}")
evaluate(None)  # back to full precision

for bits in (4, 3, 2):  # what each method minimises: the layers' output error on the calibration set
    rtn, gptq, awq = (results[method, bits][2] for method in METHODS)
    assert gptq < rtn / 3 and awq <= rtn
for bits in (3, 2):  # at 4 bits every perplexity is within 0.02 of float64's; below, GPTQ is the closest
    assert results["GPTQ", bits][0] < min(results["round-to-nearest", bits][0], results["AWQ", bits][0])
assert all(abs(results[method, 4][0] - results["float64", 64][0]) < 0.02 for method in METHODS)
assert results["round-to-nearest", 2][2] > 10 * results["round-to-nearest", 4][2]  # error grows as bits fall
# --8<-- [end:compare]
