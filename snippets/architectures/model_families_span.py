"""Span corruption: T5's objective on the paper's example, on random spans, and in a tiny T5."""

# --8<-- [start:paper]
import torch

from genai_guide.objectives import corrupt_spans, span_corruption
from genai_guide.texts import read_text

story = read_text("harbour").split()
figure_2 = "Thank you for inviting me to your party last week ."  # the example of Raffel et al.
example = figure_2.split()
words = sorted(set(story) | set(example))
sentinels = [f"<extra_id_{k}>" for k in range(40)]
vocab = ["<pad>", "</s>", "<unk>"] + words + sentinels[::-1]  # as in T5: <extra_id_0> is the last id
ID = {token: i for i, token in enumerate(vocab)}
PAD, EOS = ID["<pad>"], ID["</s>"]
sentinel_ids = [ID[s] for s in sentinels]  # <extra_id_0>, <extra_id_1>, ...


def show(ids: torch.Tensor) -> str:
    return " ".join(vocab[i] for i in ids.tolist())


tokens = torch.tensor([ID[w] for w in example])
dropped = torch.tensor([w in ("for", "inviting", "last") for w in example])  # the spans of figure 2
inputs, targets = corrupt_spans(tokens, dropped, sentinel_ids)
print("inputs: ", show(inputs))
print("targets:", show(targets))
# --8<-- [end:paper]

# --8<-- [start:random]
g = torch.Generator().manual_seed(0)
tokens = torch.tensor([ID[w] for w in story[:40]])
inputs, targets = span_corruption(tokens, sentinel_ids, noise_density=0.15, mean_span_length=3, generator=g)
print("\noriginal:", show(tokens))
print("inputs:  ", show(inputs))
print("targets: ", show(targets))


def fill_in(inputs: torch.Tensor, targets: torch.Tensor) -> list[int]:
    """Put each span of the targets back where its sentinel sits in the inputs."""
    spans, current = {}, None
    for t in targets.tolist():
        if t in sentinel_ids:
            current = spans.setdefault(t, [])
        else:
            current.append(t)
    return [t for s in inputs.tolist() for t in (spans[s] if s in sentinel_ids else [s])]


for L in (40, 128, len(story)):
    tokens = torch.tensor([ID[w] for w in story[:L]])
    inputs, targets = span_corruption(tokens, sentinel_ids, generator=g)
    used = [s for s in sentinel_ids if s in inputs.tolist()]
    n_spans = len(used)
    n_dropped = len(targets) - n_spans - 1  # targets: one sentinel per span, the spans, a final sentinel
    assert fill_in(inputs, targets) == tokens.tolist()  # nothing lost, nothing added
    assert used == sentinel_ids[:n_spans] and len(inputs) == L - n_dropped + n_spans  # sentinels in order
    print(f"L = {L:3d}: {n_dropped:2d} tokens dropped ({n_dropped / L:.1%}) in {n_spans:2d} spans "
          f"(mean {n_dropped / n_spans:.2f}); encoder reads {len(inputs)}, decoder writes {len(targets)}")
# --8<-- [end:random]

# --8<-- [start:t5]
from transformers import T5Config, T5ForConditionalGeneration

from genai_guide.objectives import shift_right

torch.manual_seed(0)
config = T5Config(vocab_size=len(vocab), d_model=32, d_kv=16, d_ff=64, num_layers=2, num_decoder_layers=2,
                  num_heads=2, pad_token_id=PAD, eos_token_id=EOS, decoder_start_token_id=PAD)
t5 = T5ForConditionalGeneration(config).eval()  # random weights: the loss is near ln V, but it must agree

tokens = torch.tensor([ID[w] for w in story[:40]])
inputs, targets = span_corruption(tokens, sentinel_ids, generator=torch.Generator().manual_seed(0))
input_ids = torch.cat([inputs, torch.tensor([EOS])])[None]  # T5 ends both sequences with </s>
labels = torch.cat([targets, torch.tensor([EOS])])[None]
decoder_input_ids = shift_right(labels, decoder_start_token_id=PAD, pad_token_id=PAD)
assert torch.equal(decoder_input_ids, t5.prepare_decoder_input_ids_from_labels(labels=labels))
print("\ndecoder reads: ", show(decoder_input_ids[0]))
print("decoder writes:", show(labels[0]))

out = t5(input_ids=input_ids, labels=labels)  # the model shifts the labels itself
logits = t5(input_ids=input_ids, decoder_input_ids=decoder_input_ids).logits  # (1, T, V)
by_hand = -logits.log_softmax(-1)[0].gather(1, labels[0][:, None]).mean()
assert abs(by_hand - out.loss) < 1e-6
print(f"loss over the {labels.shape[1]} target tokens: by hand {by_hand.item():.4f}, "
      f"T5ForConditionalGeneration {out.loss.item():.4f}")

edited_inputs = input_ids.clone()
edited_inputs[0, -2] = ID["harbour"]  # change the last word the encoder reads
encoder_moved = (t5.encoder(input_ids=edited_inputs).last_hidden_state
                 - t5.encoder(input_ids=input_ids).last_hidden_state)[0].abs().amax(-1) > 1e-5
edited_decoder = decoder_input_ids.clone()
edited_decoder[0, -1] = ID["harbour"]  # change the last token the decoder reads
decoder_moved = (t5(input_ids=input_ids, decoder_input_ids=edited_decoder).logits - logits)[0].abs().amax(-1) > 1e-5
print(f"encoder positions that see the edit: {encoder_moved.sum().item()} of {encoder_moved.numel()}")
print("decoder positions that see the edit:", decoder_moved.int().tolist())
assert encoder_moved.all() and decoder_moved.tolist() == [False] * (labels.shape[1] - 1) + [True]
# --8<-- [end:t5]
