"""Supervised fine-tuning with trl's SFTTrainer: a tiny Llama, a character tokenizer with the book's
ChatML template, 36 addition questions in chat format, 200 steps in float64, loss on the assistant's
tokens only.

Much of the CPU time is `from trl import SFTTrainer` (about 4 s); training takes about 7 s.
"""

# --8<-- [start:data]
import tempfile

import datasets
import torch
import transformers
from datasets import Dataset
from tokenizers import Tokenizer, decoders, models
from transformers import AutoModelForCausalLM, LlamaConfig, PreTrainedTokenizerFast
from transformers.trainer_callback import PrinterCallback
from trl import SFTConfig, SFTTrainer

from genai_guide.sft import (
    CHATML_TEMPLATE,
    assistant_char_spans,
    labels_from_masks,
    masked_cross_entropy,
    render_chatml,
    token_mask_from_spans,
)

transformers.logging.set_verbosity_error()
datasets.disable_progress_bars()
torch.set_num_threads(1)  # the same numbers on every machine

# A character-level tokenizer: one token per character, plus the chat format's special tokens.
specials = ["<pad>", "<|im_start|>", "<|im_end|>"]
vocab = {t: i for i, t in enumerate(specials + list("0123456789+ \nabcdefghijklmnopqrstuvwxyz"))}
char_model = Tokenizer(models.BPE(vocab=vocab, merges=[]))  # no merges: every character stays a token
char_model.add_special_tokens(specials)
char_model.decoder = decoders.Fuse()
tokenizer = PreTrainedTokenizerFast(tokenizer_object=char_model, pad_token="<pad>", eos_token="<|im_end|>")
tokenizer.chat_template = CHATML_TEMPLATE

# The instruction data: every sum of two digits 0..5, as a user question and an assistant answer.
rows = [{"messages": [{"role": "user", "content": f"{a}+{b}"}, {"role": "assistant", "content": str(a + b)}]}
        for a in range(6) for b in range(6)]


def sft_example(messages: list[dict[str, str]]) -> tuple[list[int], list[int]]:
    """Token ids and assistant-only labels, built with genai_guide.sft."""
    encoded = tokenizer(render_chatml(messages), add_special_tokens=False, return_offsets_mapping=True)
    mask = token_mask_from_spans(encoded["offset_mapping"], assistant_char_spans(messages))
    return encoded["input_ids"], labels_from_masks(encoded["input_ids"], mask)


print(len(rows), "conversations, e.g.", repr(render_chatml(rows[23]["messages"])))
# --8<-- [end:data]


# --8<-- [start:before]
torch.manual_seed(0)
config = LlamaConfig(vocab_size=len(vocab), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=64,
                     tie_word_embeddings=True, bos_token_id=None, eos_token_id=vocab["<|im_end|>"],
                     pad_token_id=vocab["<pad>"])
# A LlamaForCausalLM in float64: in float32, each CPU's rounding would grow into different answers.
model = AutoModelForCausalLM.from_config(config, dtype=torch.float64)


def answer(question: str) -> str:
    """Greedy decoding from the generation prompt, until <|im_end|> or 4 new tokens."""
    ids = tokenizer.apply_chat_template([{"role": "user", "content": question}], add_generation_prompt=True,
                                        return_tensors="pt")["input_ids"]
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=4, do_sample=False, pad_token_id=vocab["<pad>"])
    return tokenizer.decode(out[0, ids.shape[1]:])


def completion_loss() -> float:
    """Mean cross-entropy on the assistant's tokens (its answer and <|im_end|>) over all 36 examples."""
    batch = [sft_example(r["messages"]) for r in rows]
    width = max(len(ids) for ids, _ in batch)
    input_ids = torch.tensor([ids + [vocab["<pad>"]] * (width - len(ids)) for ids, _ in batch])
    labels = torch.tensor([lab + [-100] * (width - len(lab)) for _, lab in batch])
    with torch.no_grad():
        logits = model(input_ids, attention_mask=(input_ids != vocab["<pad>"]).long()).logits
    return masked_cross_entropy(logits, labels).item()


questions = ["2+3", "4+4", "5+1"]
model.eval()
print("before:", {q: answer(q) for q in questions}, f"loss on answers {completion_loss():.2f}")
# --8<-- [end:before]


# --8<-- [start:train]
args = SFTConfig(
    output_dir=tempfile.mkdtemp(),  # nothing is saved there
    assistant_only_loss=True,  # labels -100 outside the template's {% generation %} block
    max_steps=200, per_device_train_batch_size=36,  # each step: one batch of all 36 examples
    learning_rate=3e-3, lr_scheduler_type="linear",  # decays to 0: the run settles
    max_length=None, use_cpu=True, bf16=False, activation_checkpointing=False, seed=0,
    report_to="none", disable_tqdm=True, save_strategy="no", logging_strategy="no",
)
trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer)
trainer.remove_callback(PrinterCallback)  # it would print the run's timings
example = trainer.train_dataset[23]  # the dataset as trl prepared it
assert (example["input_ids"], example["labels"]) == sft_example(rows[23]["messages"])  # same labels as ours
learned = [tokenizer.decode([t]) for t in example["labels"] if t != -100]
print(f"trl learns {learned} of the {len(example['input_ids'])} tokens of example 23")
trainer.train()
# --8<-- [end:train]


# --8<-- [start:after]
model.eval()
print("after: ", {q: answer(q) for q in questions}, f"loss on answers {completion_loss():.2f}")
correct = sum(answer(f"{a}+{b}") == f"{a + b}<|im_end|>" for a in range(6) for b in range(6))
print(f"{correct} of 36 sums answered correctly after {args.max_steps} steps")
assert correct >= 30
# --8<-- [end:after]
