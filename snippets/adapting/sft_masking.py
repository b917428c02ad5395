"""Which tokens an SFT example learns from: assistant-only and completion-only labels.

The assistant-only mask is checked against the one transformers derives from the chat template's
`{% generation %}` block, which is what trl's `SFTTrainer(assistant_only_loss=True)` uses; the tests
(tests/test_sft.py) also compare every label with the dataset SFTTrainer prepares.
"""

# --8<-- [start:tokenizer]
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from genai_guide.sft import (
    CHATML_TEMPLATE,
    assistant_char_spans,
    completion_mask,
    labels_from_masks,
    render_chatml,
    token_mask_from_spans,
)
from genai_guide.texts import read_text

# A byte-level BPE tokenizer (GPT-2's kind) trained on the 20-line harbour story, with the three
# special tokens of the chat format.
lines = read_text("harbour").splitlines()
bpe = Tokenizer(models.BPE())
bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
bpe.decoder = decoders.ByteLevel()
bpe.train_from_iterator(lines, trainers.BpeTrainer(
    vocab_size=400, special_tokens=["<pad>", "<|im_start|>", "<|im_end|>"], show_progress=False,
    initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, pad_token="<pad>", eos_token="<|im_end|>")
tokenizer.chat_template = CHATML_TEMPLATE  # the ChatML-style Jinja template of genai_guide.sft
print(CHATML_TEMPLATE.strip())


def show(ids: list[int], labels: list[int]) -> None:
    """Print the tokens, the learned ones in brackets; newlines shown as \\n."""
    pieces = [tokenizer.decode([i]) for i in ids]
    text = "".join(f"[{p}]" if label != -100 else p for p, label in zip(pieces, labels))
    print(text.replace("\n", "\\n"))
    print(f"  {sum(label != -100 for label in labels)} of {len(ids)} tokens learned")
# --8<-- [end:tokenizer]


# --8<-- [start:assistant]
messages = [
    {"role": "user", "content": "Who climbed the tower?"},
    {"role": "assistant", "content": "The keeper."},
    {"role": "user", "content": "Who baked the bread?"},
    {"role": "assistant", "content": "The baker."},
]
text = tokenizer.apply_chat_template(messages, tokenize=False)
assert text == render_chatml(messages)  # the template and the plain-Python layout agree
print(text, end="")

# Assistant-only: learn every assistant turn, its <|im_end|> included.
encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
mask = token_mask_from_spans(encoded["offset_mapping"], assistant_char_spans(messages))
reference = tokenizer.apply_chat_template(messages, return_assistant_tokens_mask=True)
assert mask == reference["assistant_masks"]  # what SFTTrainer(assistant_only_loss=True) uses
show(encoded["input_ids"], labels_from_masks(encoded["input_ids"], mask))
# --8<-- [end:assistant]

# --8<-- [start:completion]
# Completion-only on the same talk split into prompt and completion: learn the last turn only.
prompt, completion = messages[:3], messages[3:]
prompt_ids = tokenizer.apply_chat_template(prompt, add_generation_prompt=True)["input_ids"]
full_ids = tokenizer.apply_chat_template(prompt + completion)["input_ids"]
show(full_ids, labels_from_masks(full_ids, completion_mask(prompt_ids, full_ids)))

# Plain text: a prompt that stops inside a word. The tokenizer merges across the boundary, so the
# prompt's last token is not a prefix of the whole example, and the completion starts one token early.
prompt, completion = "The keep", "er climbed the tower."
prompt_ids = tokenizer(prompt).input_ids
full_ids = tokenizer(prompt + completion + tokenizer.eos_token).input_ids  # trl appends the EOS
print([tokenizer.decode([i]) for i in prompt_ids], "->", [tokenizer.decode([i]) for i in full_ids[:3]])
show(full_ids, labels_from_masks(full_ids, completion_mask(prompt_ids, full_ids)))
# --8<-- [end:completion]
