"""Supervised fine-tuning (SFT) and instruction tuning, written to be read.

The chapter [Supervised fine-tuning and instruction tuning](../../adapting/sft.md) explains them:

- **dataset formats**: Alpaca-style `instruction` / `input` / `output` records (Taori et al. 2023),
  converted to the two shapes `trl`'s `SFTTrainer` accepts, prompt-completion and chat
  `messages` (`alpaca_to_prompt_completion`, `alpaca_to_messages`, `sft_dataset_format`);
- **chat formatting**: a ChatML-style Jinja template, `CHATML_TEMPLATE`, to set on a tokenizer,
  and `render_chatml`, the same layout in plain Python;
- **masking the prompt out of the loss**: `completion_mask` (the rule of `trl`'s completion-only
  loss), `assistant_char_spans` and `token_mask_from_spans` (its assistant-only loss) and
  `labels_from_masks`, which writes `-100` where a token must not be learned;
- **the masked loss**, `masked_cross_entropy`, equal to `model(input_ids, labels=labels).loss`;
- **packing** several short examples into one row: `pack_bfd` (best-fit decreasing) and
  `pack_wrapped`, equal to `trl.pack_dataset`, with `packed_position_ids` restarting the
  positions of each packed sequence, and `padding_waste` for the alternative;
- **FLAN-style multi-task instruction tuning** (Wei et al. 2021; Chung et al. 2022): instruction
  templates, `examples_proportional_rates` and `mix_tasks`;
- **Self-Instruct** (Wang et al. 2022): `rouge_l`, the LCS-based F-measure of Lin (2004), and the
  bootstrapping loop `self_instruct`, which keeps a generated instruction only if its ROUGE-L
  similarity to every instruction already in the pool is below 0.7.

Labels follow the PyTorch and Hugging Face convention: `-100` marks a position that takes no part in
the loss (`IGNORE_INDEX`).
"""

from __future__ import annotations

import bisect
import random
import re
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "ALPACA_PROMPT_INPUT",
    "ALPACA_PROMPT_NO_INPUT",
    "CHATML_TEMPLATE",
    "IGNORE_INDEX",
    "RougeScore",
    "SelfInstructResult",
    "alpaca_prompt",
    "alpaca_to_messages",
    "alpaca_to_prompt_completion",
    "assistant_char_spans",
    "bfd_bins",
    "completion_mask",
    "examples_proportional_rates",
    "format_with_templates",
    "instruction_filter_reason",
    "labels_from_masks",
    "lcs_length",
    "masked_cross_entropy",
    "messages_to_prompt_completion",
    "mix_tasks",
    "pack_bfd",
    "pack_wrapped",
    "packed_position_ids",
    "padding_waste",
    "render_chatml",
    "rouge_l",
    "rouge_tokenize",
    "self_instruct",
    "sft_dataset_format",
    "token_mask_from_spans",
]

IGNORE_INDEX = -100  # label of a position that is not scored

Message = dict[str, str]
ROLES = ("system", "user", "assistant")


# ---------------------------------------------------------------------------------------------
# Input checks: clear errors that name the faulty argument
# ---------------------------------------------------------------------------------------------


def _check_mapping(name: str, x: object) -> Mapping[str, Any]:
    if not isinstance(x, Mapping):
        raise TypeError(f"{name} must be a mapping (a dict), got {type(x).__name__}")
    return x


def _check_str(name: str, x: object) -> str:
    if not isinstance(x, str):
        raise TypeError(f"{name} must be a str, got {type(x).__name__}")
    return x


def _check_positive_int(name: str, x: object) -> int:
    if isinstance(x, bool) or not isinstance(x, int):
        raise TypeError(f"{name} must be an int, got {type(x).__name__}")
    if x < 1:
        raise ValueError(f"{name} must be positive, got {x}")
    return x


def _check_int_list(name: str, x: object) -> list[int]:
    if isinstance(x, (str, bytes)) or not isinstance(x, Sequence) and not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a sequence of token ids, got {type(x).__name__}")
    values = x.tolist() if isinstance(x, Tensor) else list(x)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise TypeError(f"{name} must hold ints (token ids)")
    return values


def _check_messages(name: str, messages: object) -> list[Message]:
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise TypeError(f"{name} must be a list of messages, got {type(messages).__name__}")
    if len(messages) == 0:
        raise ValueError(f"{name} must hold at least one message")
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping) or "role" not in message or "content" not in message:
            raise TypeError(f"{name}[{i}] must be a dict with 'role' and 'content'")
        if message["role"] not in ROLES:
            raise ValueError(f"{name}[{i}] has role {message['role']!r}; expected one of {ROLES}")
        if not isinstance(message["content"], str):
            raise TypeError(f"{name}[{i}]['content'] must be a str, got {type(message['content']).__name__}")
    return list(messages)


# ---------------------------------------------------------------------------------------------
# Dataset formats
# ---------------------------------------------------------------------------------------------

ALPACA_PROMPT_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:"
)
"""Stanford Alpaca's prompt for a record with an `input` (its `train.py`, `PROMPT_DICT`)."""

ALPACA_PROMPT_NO_INPUT = (
    "Below is an instruction that describes a task. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Response:"
)
"""Stanford Alpaca's prompt for a record whose `input` is empty."""


def alpaca_prompt(instruction: str, input: str = "") -> str:
    """The prompt Stanford Alpaca (Taori et al. 2023) trains on for one record.

    Alpaca's `train.py` fills `ALPACA_PROMPT_INPUT` when the record has an input and
    `ALPACA_PROMPT_NO_INPUT` when it does not, then appends the output and the end-of-sequence token
    directly after `### Response:`; the loss is taken on that output only.

    Args:
        instruction: what to do ("Reverse the word.").
        input: optional context the instruction applies to ("lamp"); `""` when there is none.

    Returns:
        The prompt, ending in `### Response:`.

    Raises:
        TypeError: if `instruction` or `input` is not a str.
        ValueError: if `instruction` is empty.
    """
    _check_str("instruction", instruction)
    _check_str("input", input)
    if not instruction.strip():
        raise ValueError("instruction must not be empty")
    if input:
        return ALPACA_PROMPT_INPUT.format(instruction=instruction, input=input)
    return ALPACA_PROMPT_NO_INPUT.format(instruction=instruction)


def _alpaca_fields(example: object) -> tuple[str, str, str]:
    example = _check_mapping("example", example)
    missing = [key for key in ("instruction", "output") if key not in example]
    if missing:
        raise ValueError(f"example must have the Alpaca keys 'instruction' and 'output'; missing {missing}")
    return (_check_str("example['instruction']", example["instruction"]),
            _check_str("example['input']", example.get("input", "")),
            _check_str("example['output']", example["output"]))


def alpaca_to_prompt_completion(example: Mapping[str, str]) -> dict[str, str]:
    """Turn an Alpaca record into `trl`'s standard prompt-completion format.

    `{"instruction", "input", "output"}` becomes `{"prompt": alpaca_prompt(...), "completion": output}`.
    `SFTTrainer` then appends the tokenizer's end-of-sequence token to the completion and, by
    default for this format, computes the loss on the completion tokens only.

    Raises:
        TypeError: if `example` is not a mapping of strings.
        ValueError: if `example` lacks `instruction` or `output`.
    """
    instruction, inp, output = _alpaca_fields(example)
    return {"prompt": alpaca_prompt(instruction, inp), "completion": output}


def alpaca_to_messages(example: Mapping[str, str], system: str | None = None) -> dict[str, list[Message]]:
    """Turn an Alpaca record into `trl`'s conversational format: a list of chat `messages`.

    The user turn is the instruction, followed by a blank line and the input when there is one;
    the assistant turn is the output. A `system` message, if given, comes first.

    Raises:
        TypeError: if `example` is not a mapping of strings or `system` is not a str.
        ValueError: if `example` lacks `instruction` or `output`.
    """
    instruction, inp, output = _alpaca_fields(example)
    messages: list[Message] = []
    if system is not None:
        messages.append({"role": "system", "content": _check_str("system", system)})
    messages.append({"role": "user", "content": f"{instruction}\n\n{inp}" if inp else instruction})
    messages.append({"role": "assistant", "content": output})
    return {"messages": messages}


def messages_to_prompt_completion(example: Mapping[str, Any]) -> dict[str, list[Message]]:
    """Split a conversation into `trl`'s conversational prompt-completion format.

    Everything before the last message is the prompt; the last message, which must be the
    assistant's, is the completion: `{"prompt": messages[:-1], "completion": messages[-1:]}`.

    Raises:
        TypeError: if `example` is not a mapping or its messages are malformed.
        ValueError: if there is no `messages` key, fewer than two messages, or the last one is not
            the assistant's.
    """
    example = _check_mapping("example", example)
    if "messages" not in example:
        raise ValueError("example must have a 'messages' key")
    messages = _check_messages("example['messages']", example["messages"])
    if len(messages) < 2 or messages[-1]["role"] != "assistant":
        raise ValueError("example['messages'] must end with an assistant message after at least one other")
    return {"prompt": messages[:-1], "completion": messages[-1:]}


def sft_dataset_format(example: Mapping[str, Any]) -> str:
    """Name the `trl` SFT format of one example, as `SFTTrainer` reads it.

    - `{"text": str}`: **language modeling**, loss on every token;
    - `{"messages": [...]}`: **conversational language modeling**; with
      `assistant_only_loss=True` the loss is on the assistant turns only;
    - `{"prompt": str, "completion": str}`: **prompt-completion**, loss on the completion by default;
    - `{"prompt": [...], "completion": [...]}`: **conversational prompt-completion**.

    An example is conversational when its field is a list of dicts with a `role`, which is the test
    of `trl.data_utils.is_conversational`.

    Raises:
        TypeError: if `example` is not a mapping.
        ValueError: for any other layout; an Alpaca record gets a hint to convert it first.
    """
    example = _check_mapping("example", example)

    def conversational(value: object) -> bool:
        return isinstance(value, list) and len(value) > 0 and isinstance(value[0], dict) and "role" in value[0]

    if "prompt" in example and "completion" in example:
        both = conversational(example["prompt"]) and conversational(example["completion"])
        return "conversational prompt-completion" if both else "prompt-completion"
    if "messages" in example:
        return "conversational language modeling"
    if "text" in example:
        return "language modeling"
    if "instruction" in example and "output" in example:
        raise ValueError("example is an Alpaca record: convert it with alpaca_to_prompt_completion or "
                         "alpaca_to_messages first")
    raise ValueError(f"example has keys {sorted(example)}, which is no SFT format trl accepts")


# ---------------------------------------------------------------------------------------------
# Chat formatting: a ChatML-style template
# ---------------------------------------------------------------------------------------------

CHATML_TEMPLATE = r"""
{%- for message in messages -%}
    {{- '<|im_start|>' + message['role'] + '\n' -}}
    {%- if message['role'] == 'assistant' -%}
        {%- generation -%}
            {{- message['content'] + '<|im_end|>' -}}
        {%- endgeneration -%}
        {{- '\n' -}}
    {%- else -%}
        {{- message['content'] + '<|im_end|>' + '\n' -}}
    {%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{- '<|im_start|>assistant\n' -}}
{%- endif -%}
"""
"""A ChatML-style chat template (Jinja) to set as `tokenizer.chat_template`.

Each message is `<|im_start|>{role}\\n{content}<|im_end|>\\n`; `add_generation_prompt=True`
appends `<|im_start|>assistant\\n`, the cue for the model to answer. The `{% generation %}` block
marks what the assistant writes, its content and its `<|im_end|>`, so that
`apply_chat_template(..., return_assistant_tokens_mask=True)` can tell those tokens apart, which is
what `SFTTrainer(assistant_only_loss=True)` needs. The end-of-turn token is inside the block on
purpose: a model never trained to produce it never learns to stop.
"""

IM_START, IM_END = "<|im_start|>", "<|im_end|>"


def render_chatml(messages: Sequence[Message], add_generation_prompt: bool = False) -> str:
    """Lay out `messages` exactly as `CHATML_TEMPLATE` does, in plain Python.

    Raises:
        TypeError: if `messages` is not a list of `{"role", "content"}` dicts with str content.
        ValueError: if `messages` is empty or a role is not system, user or assistant.
    """
    messages = _check_messages("messages", messages)
    text = "".join(f"{IM_START}{m['role']}\n{m['content']}{IM_END}\n" for m in messages)
    return text + (f"{IM_START}assistant\n" if add_generation_prompt else "")


def assistant_char_spans(messages: Sequence[Message]) -> list[tuple[int, int]]:
    """Character spans `[start, end)` of what the assistant writes in `render_chatml(messages)`.

    Each span covers one assistant message's content and its `<|im_end|>`, not the role header
    before it nor the newline after it: the same text the template's `{% generation %}` block
    marks.

    Raises:
        TypeError, ValueError: as `render_chatml`.
    """
    messages = _check_messages("messages", messages)
    spans, position = [], 0
    for m in messages:
        header = f"{IM_START}{m['role']}\n"
        body = f"{m['content']}{IM_END}"
        if m["role"] == "assistant":
            spans.append((position + len(header), position + len(header) + len(body)))
        position += len(header) + len(body) + 1  # + the newline after <|im_end|>
    return spans


def token_mask_from_spans(offsets: Sequence[tuple[int, int]], spans: Sequence[tuple[int, int]]) -> list[int]:
    """1 for each token whose characters overlap one of `spans`, else 0.

    A token covering characters `[s, e)` is marked when $s < b$ and $e > a$ for some span
    `[a, b)`, so a token cut by a span boundary counts as the assistant's. This is how
    `transformers` turns the `{% generation %}` spans into `assistant_masks`.

    Args:
        offsets: `(start, end)` character offsets of each token (a fast tokenizer's
            `return_offsets_mapping=True`).
        spans: character spans `[start, end)` to mark, e.g. from `assistant_char_spans`.

    Raises:
        TypeError: if `offsets` or `spans` is not a sequence of pairs.
        ValueError: if a pair has its end before its start.
    """
    for name, pairs in (("offsets", offsets), ("spans", spans)):
        if isinstance(pairs, (str, bytes)) or not isinstance(pairs, Sequence):
            raise TypeError(f"{name} must be a sequence of (start, end) pairs, got {type(pairs).__name__}")
        for pair in pairs:
            if not isinstance(pair, Sequence) or len(pair) != 2:
                raise TypeError(f"{name} must hold (start, end) pairs, got {pair!r}")
            if pair[1] < pair[0]:
                raise ValueError(f"{name} holds a pair whose end comes before its start: {tuple(pair)}")
    return [int(any(s < b and e > a for a, b in spans)) for s, e in offsets]


# ---------------------------------------------------------------------------------------------
# Masking the prompt out of the loss
# ---------------------------------------------------------------------------------------------


def completion_mask(prompt_ids: Sequence[int], prompt_completion_ids: Sequence[int]) -> list[int]:
    """Which tokens of a tokenized prompt + completion belong to the completion (1) or the prompt (0).

    The prompt and the whole example are tokenized separately; the completion starts where the two
    token sequences first differ. Usually that is right after the prompt, but a tokenizer can merge
    characters across the boundary, or a chat template can render a prompt alone differently; then
    the last prompt tokens fall on the completion side. This is `trl`'s rule for its completion-only
    loss (`common_prefix_length` in `SFTTrainer`).

    Raises:
        TypeError: if an argument is not a sequence of ints.
    """
    prompt = _check_int_list("prompt_ids", prompt_ids)
    full = _check_int_list("prompt_completion_ids", prompt_completion_ids)
    common = 0
    for a, b in zip(prompt, full):
        if a != b:
            break
        common += 1
    return [0] * common + [1] * (len(full) - common)


def labels_from_masks(input_ids: Sequence[int], *masks: Sequence[int]) -> list[int]:
    """Labels for training: the token id where every mask is 1, `-100` (ignored) elsewhere.

    $$\\text{label}_t = \\begin{cases} x_t & \\text{if } m_t = 1 \\\\ -100 & \\text{otherwise} \\end{cases}$$

    With no mask every token is learned (plain language modeling). The model shifts the labels
    itself: `labels[t]` is the target of the logits at position `t - 1`.

    Raises:
        TypeError: if an argument is not a sequence of ints.
        ValueError: if a mask's length differs from `input_ids`' or it holds values other than 0/1.
    """
    ids = _check_int_list("input_ids", input_ids)
    checked = []
    for i, mask in enumerate(masks):
        values = _check_int_list(f"masks[{i}]", mask)
        if len(values) != len(ids):
            raise ValueError(f"masks[{i}] has {len(values)} entries for {len(ids)} input_ids")
        if any(v not in (0, 1) for v in values):
            raise ValueError(f"masks[{i}] must hold only 0 and 1")
        checked.append(values)
    return [token if all(m[t] for m in checked) else IGNORE_INDEX for t, token in enumerate(ids)]


def masked_cross_entropy(logits: Tensor, labels: Tensor, reduction: str = "token") -> Tensor:
    """Next-token cross-entropy on the positions whose label is not `-100`.

    The logits at position $t$ predict the label at $t + 1$. With $M$ the set of scored positions
    (label $\\neq -100$) over the whole batch,

    $$\\mathcal{L} = -\\frac{1}{|M|} \\sum_{(b, t) \\in M} \\log p_\\theta(x_{b,t} \\mid x_{b,<t}),$$

    the mean over tokens that `model(input_ids, labels=labels).loss` and `SFTTrainer` compute
    (Ouyang et al. 2022 train their SFT model on this objective, on the demonstrations only).
    `reduction="sequence"` instead averages each sequence's mean, so every example weighs the same
    whatever the length of its answer.

    Args:
        logits: `(batch, L, V)` floating scores.
        labels: `(batch, L)` integer token ids, `-100` where nothing is learned; unshifted.
        reduction: `"token"` (the Hugging Face convention) or `"sequence"`.

    Returns:
        A scalar tensor, in nats.

    Raises:
        TypeError: if `logits` is not floating or `labels` not integer.
        ValueError: if the shapes disagree, `reduction` is unknown, or no position is scored.
    """
    if not isinstance(logits, Tensor) or not logits.is_floating_point():
        raise TypeError(f"logits must be a floating torch.Tensor, got {getattr(logits, 'dtype', type(logits).__name__)}")
    if not isinstance(labels, Tensor) or labels.is_floating_point() or labels.dtype == torch.bool:
        raise TypeError(f"labels must be an integer torch.Tensor, got {getattr(labels, 'dtype', type(labels).__name__)}")
    if logits.dim() != 3 or labels.shape != logits.shape[:2]:
        raise ValueError(f"logits must be (batch, L, V) and labels (batch, L); got {tuple(logits.shape)} "
                         f"and {tuple(labels.shape)}")
    if reduction not in ("token", "sequence"):
        raise ValueError(f"reduction must be 'token' or 'sequence', got {reduction!r}")
    targets = labels[:, 1:].long()  # (batch, L-1): the token each position must predict
    scored = targets != IGNORE_INDEX  # (batch, L-1)
    if not scored.any():
        raise ValueError("labels must leave at least one position scored (all are -100)")
    log_probs = torch.log_softmax(logits[:, :-1].float(), dim=-1)  # (batch, L-1, V)
    picked = log_probs.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)  # (batch, L-1)
    nll = -(picked * scored)  # zero where nothing is scored
    if reduction == "token":
        return nll.sum() / scored.sum()
    per_sequence = nll.sum(1) / scored.sum(1).clamp(min=1)  # (batch,)
    has_target = scored.any(1)
    return per_sequence[has_target].mean()


# ---------------------------------------------------------------------------------------------
# Padding and packing
# ---------------------------------------------------------------------------------------------


def padding_waste(lengths: Sequence[int], batch_size: int) -> float:
    """Fraction of the tokens in padded batches that are padding.

    Consecutive batches of `batch_size` sequences are padded to the longest in each batch:

    $$\\text{waste} = 1 - \\frac{\\sum_i \\ell_i}{\\sum_{\\text{batches } B} |B| \\cdot \\max_{i \\in B} \\ell_i}.$$

    Raises:
        TypeError: if `lengths` is not a sequence of ints.
        ValueError: if `lengths` is empty or has a negative entry, or `batch_size` is not positive.
    """
    values = _check_int_list("lengths", lengths)
    _check_positive_int("batch_size", batch_size)
    if not values or min(values) < 0:
        raise ValueError("lengths must be a non-empty sequence of non-negative ints")
    total = sum(len(batch) * max(batch) for batch in (values[i:i + batch_size] for i in range(0, len(values), batch_size)))
    return 0.0 if total == 0 else 1.0 - sum(values) / total


def bfd_bins(lengths: Sequence[int], capacity: int) -> list[list[int]]:
    """Best-fit decreasing bin packing: which items go together into rows of `capacity` tokens.

    Items are taken longest first (ties in their original order). Each goes into the open bin with
    the **least** room left that still fits it (among equals, the bin that reached that room
    first), or opens a new bin. This is the Best-fit Packing of Ding et al. (2024) and `trl`'s
    `"bfd"` strategy, which finds the best fit with a segment tree; a plain scan does the same in
    $O(n \\cdot \\text{bins})$.

    Args:
        lengths: the length of each item, each between 1 and `capacity`.
        capacity: the room in a bin (the packed sequence length).

    Returns:
        The bins in the order they were opened, each a list of item indices in the order placed.

    Raises:
        TypeError: if `lengths` is not a sequence of ints or `capacity` not an int.
        ValueError: if `capacity` is not positive or a length is outside `[1, capacity]`.
    """
    values = _check_int_list("lengths", lengths)
    _check_positive_int("capacity", capacity)
    if any(not 1 <= n <= capacity for n in values):
        raise ValueError(f"lengths must lie between 1 and capacity={capacity}")
    order = sorted(range(len(values)), key=lambda i: -values[i])  # stable: ties keep their order
    bins: list[list[int]] = []
    room: list[int] = []  # room left in each bin
    since: list[int] = []  # when each bin's room last changed: the tie-break among equal rooms
    for step, i in enumerate(order):
        fits = [b for b in range(len(bins)) if room[b] >= values[i]]
        if fits:
            b = min(fits, key=lambda b: (room[b], since[b]))  # the tightest fit, the earliest among ties
        else:
            bins.append([])
            room.append(capacity)
            since.append(step)
            b = len(bins) - 1
        bins[b].append(i)
        room[b] -= values[i]
        since[b] = step
    return bins


def _check_columns(columns: object) -> dict[str, list[list[Any]]]:
    columns = _check_mapping("columns", columns)
    if not columns:
        raise ValueError("columns must hold at least one column (e.g. 'input_ids')")
    out = {}
    for name, rows in columns.items():
        if isinstance(rows, (str, bytes)) or not isinstance(rows, Sequence):
            raise TypeError(f"columns[{name!r}] must be a list of sequences")
        out[name] = [list(row) for row in rows]
    first = next(iter(out.values()))
    for name, rows in out.items():
        if len(rows) != len(first) or any(len(a) != len(b) for a, b in zip(rows, first)):
            raise ValueError(f"columns[{name!r}] must have the same number of rows and row lengths as the others")
    return out


def pack_bfd(columns: Mapping[str, Sequence[Sequence[Any]]], seq_length: int, split: bool = False,
             batch_size: int | None = 1000) -> dict[str, list[list[Any]]]:
    """Pack rows into rows of at most `seq_length` tokens, keeping each sequence whole (BFD).

    Every column (`input_ids`, `labels`, ...) is packed the same way. Empty rows are dropped. Rows
    longer than `seq_length` are truncated (`split=False`, `trl`'s `"bfd"`) or cut into pieces of
    `seq_length` with a shorter last piece, each packed as a sequence of its own (`split=True`,
    `"bfd_split"`). The rows are then grouped by `bfd_bins` and concatenated; the column
    `seq_lengths` records the length of each sequence in a packed row, from which
    `packed_position_ids` restarts the positions at every sequence.

    `trl.pack_dataset` packs each batch of `batch_size` rows (1000, the default batch of
    `datasets.Dataset.map`) separately; `batch_size=None` packs everything at once.

    Raises:
        TypeError: if `columns` is not a mapping of row lists.
        ValueError: if the columns disagree in rows or row lengths, or a size is not positive.
    """
    data = _check_columns(columns)
    _check_positive_int("seq_length", seq_length)
    n_rows = len(next(iter(data.values())))
    step = (n_rows or 1) if batch_size is None else _check_positive_int("batch_size", batch_size)
    out: dict[str, list[list[Any]]] = {name: [] for name in [*data, "seq_lengths"]}
    for start in range(0, n_rows, step):
        pieces: dict[str, list[list[Any]]] = {name: [] for name in data}
        for r in range(start, min(start + step, n_rows)):
            length = len(data[next(iter(data))][r])
            if length == 0:
                continue
            cuts = range(0, length, seq_length) if split else range(1)
            for c in cuts:
                for name in data:
                    pieces[name].append(data[name][r][c:c + seq_length])
        lengths = [len(row) for row in next(iter(pieces.values()))]
        for members in bfd_bins(lengths, seq_length):
            for name in data:
                out[name].append([tok for i in members for tok in pieces[name][i]])
            out["seq_lengths"].append([lengths[i] for i in members])
    return out


def pack_wrapped(columns: Mapping[str, Sequence[Sequence[Any]]], seq_length: int,
                 batch_size: int | None = 1000) -> dict[str, list[list[Any]]]:
    """Concatenate all rows and cut the stream into rows of exactly `seq_length` (the last shorter).

    Sequences are cut wherever a row ends, so a packed row can start in the middle of one example
    and end in the middle of another: no padding at all, at the price of examples split in two
    and of attention that crosses example boundaries. This is `trl`'s `"wrapped"` strategy and the
    usual way pre-training text is chunked. Each batch of `batch_size` rows is wrapped separately.

    Raises:
        TypeError: if `columns` is not a mapping of row lists.
        ValueError: if the columns disagree in rows or row lengths, or a size is not positive.
    """
    data = _check_columns(columns)
    _check_positive_int("seq_length", seq_length)
    n_rows = len(next(iter(data.values())))
    step = (n_rows or 1) if batch_size is None else _check_positive_int("batch_size", batch_size)
    out: dict[str, list[list[Any]]] = {name: [] for name in data}
    for start in range(0, n_rows, step):
        for name, rows in data.items():
            stream = [tok for row in rows[start:start + step] for tok in row]
            out[name].extend(stream[i:i + seq_length] for i in range(0, len(stream), seq_length))
    return out


def packed_position_ids(seq_lengths: Sequence[int]) -> list[int]:
    """Position ids for one packed row: they restart at 0 at every packed sequence.

    `[3, 2]` gives `[0, 1, 2, 0, 1]`. Given these `position_ids` and no `attention_mask`,
    `transformers` builds a block-diagonal causal mask (each sequence sees only itself), and RoPE or
    learned position embeddings see every sequence start at position 0, exactly as if it were
    alone; `trl`'s padding-free collator also sets the label of each sequence's first token to -100,
    so the last token of one example is not trained to predict the first of the next.

    Raises:
        TypeError: if `seq_lengths` is not a sequence of ints.
        ValueError: if a length is negative.
    """
    values = _check_int_list("seq_lengths", seq_lengths)
    if any(n < 0 for n in values):
        raise ValueError("seq_lengths must be non-negative")
    return [p for n in values for p in range(n)]


# ---------------------------------------------------------------------------------------------
# FLAN-style multi-task instruction tuning
# ---------------------------------------------------------------------------------------------


def format_with_templates(examples: Sequence[Mapping[str, Any]], templates: Sequence[tuple[str, str]],
                          rng: random.Random) -> list[dict[str, str]]:
    """Phrase each example of a task as an instruction, with a template drawn at random.

    A template is a pair of format strings, `(prompt, completion)`, with `{field}` placeholders
    filled from the example. FLAN (Wei et al. 2021) wrote ten templates per dataset, some of them
    "turning the task around" (asking for a movie review given its sentiment, say), and formatted
    each training example with one chosen at random.

    Returns:
        `[{"prompt": ..., "completion": ..., "template": index}]`, one per example.

    Raises:
        TypeError: if `rng` is not a `random.Random` or a template is not a pair of strings.
        ValueError: if `templates` is empty or a template names a field an example lacks.
    """
    if not isinstance(rng, random.Random):
        raise TypeError(f"rng must be a random.Random, got {type(rng).__name__}")
    if len(templates) == 0:
        raise ValueError("templates must hold at least one (prompt, completion) pair")
    for t in templates:
        if not (isinstance(t, tuple) and len(t) == 2 and all(isinstance(s, str) for s in t)):
            raise TypeError(f"templates must hold (prompt, completion) pairs of str, got {t!r}")
    out = []
    for example in examples:
        _check_mapping("examples[i]", example)
        k = rng.randrange(len(templates))
        prompt, completion = templates[k]
        try:
            out.append({"prompt": prompt.format(**example), "completion": completion.format(**example), "template": k})
        except KeyError as missing:
            raise ValueError(f"templates[{k}] uses field {missing} that the example lacks") from None
    return out


def examples_proportional_rates(sizes: Mapping[str, int], cap: int) -> dict[str, float]:
    """Mixing rates proportional to each task's size, with large tasks capped (Raffel et al. 2019).

    $$r_m = \\frac{\\min(e_m, K)}{\\sum_n \\min(e_n, K)},$$

    with $e_m$ the number of examples of task $m$ and $K$ the cap, so that a huge dataset cannot
    drown the small ones. FLAN used $K$ = 3,000 after limiting each dataset to 30,000 examples.

    Raises:
        TypeError: if `sizes` is not a mapping or `cap` not an int.
        ValueError: if `sizes` is empty, a size is negative, all are zero, or `cap` is not positive.
    """
    sizes = _check_mapping("sizes", sizes)
    _check_positive_int("cap", cap)
    if not sizes:
        raise ValueError("sizes must name at least one task")
    for name, e in sizes.items():
        if isinstance(e, bool) or not isinstance(e, int) or e < 0:
            raise ValueError(f"sizes[{name!r}] must be a non-negative int, got {e!r}")
    capped = {name: min(e, cap) for name, e in sizes.items()}
    total = sum(capped.values())
    if total == 0:
        raise ValueError("sizes must hold at least one non-empty task")
    return {name: c / total for name, c in capped.items()}


def mix_tasks(tasks: Mapping[str, Sequence[Any]], rates: Mapping[str, float], n: int,
              rng: random.Random) -> list[tuple[str, Any]]:
    """Draw `n` training examples from several tasks: a task by its rate, then one of its examples.

    Returns:
        `[(task name, example), ...]`.

    Raises:
        TypeError: if `rng` is not a `random.Random`.
        ValueError: if `rates` names an unknown or empty task, is negative, or sums to zero.
    """
    tasks = _check_mapping("tasks", tasks)
    rates = _check_mapping("rates", rates)
    _check_positive_int("n", n)
    if not isinstance(rng, random.Random):
        raise TypeError(f"rng must be a random.Random, got {type(rng).__name__}")
    names = list(rates)
    for name in names:
        if name not in tasks or len(tasks[name]) == 0:
            raise ValueError(f"rates names task {name!r}, which tasks does not hold or holds empty")
        if rates[name] < 0:
            raise ValueError(f"rates[{name!r}] must be non-negative")
    if sum(rates.values()) <= 0:
        raise ValueError("rates must not all be zero")
    cumulative, total = [], 0.0
    for name in names:
        total += rates[name]
        cumulative.append(total)
    out = []
    for _ in range(n):
        k = min(bisect.bisect_right(cumulative, rng.random() * total), len(names) - 1)
        name = names[k]
        out.append((name, tasks[name][rng.randrange(len(tasks[name]))]))
    return out


# ---------------------------------------------------------------------------------------------
# ROUGE-L and Self-Instruct
# ---------------------------------------------------------------------------------------------


def lcs_length(a: Sequence[Any], b: Sequence[Any]) -> int:
    """Length of the longest common subsequence of `a` and `b` (dynamic programming).

    With $c_{i,j}$ the LCS length of the first $i$ items of `a` and the first $j$ of `b`:
    $c_{i,j} = c_{i-1,j-1} + 1$ if $a_i = b_j$, else $\\max(c_{i-1,j}, c_{i,j-1})$; one row is kept,
    so memory is $O(|b|)$ and time $O(|a| \\cdot |b|)$.

    Raises:
        TypeError: if `a` or `b` is not a sequence.
    """
    for name, x in (("a", a), ("b", b)):
        if not isinstance(x, Sequence):
            raise TypeError(f"{name} must be a sequence (a list of tokens or a str), got {type(x).__name__}")
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b, start=1):
            current.append(previous[j - 1] + 1 if x == y else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def rouge_tokenize(text: str) -> list[str]:
    """The default tokenizer of Google's `rouge_score`, which Self-Instruct uses.

    Lowercase, replace every run of characters other than `a-z0-9` by a space, split on spaces
    (no stemming: Self-Instruct sets `use_stemmer=False`).

    Raises:
        TypeError: if `text` is not a str.
    """
    _check_str("text", text)
    return [t for t in re.split(r"\s+", re.sub(r"[^a-z0-9]+", " ", text.lower())) if t]


@dataclass(frozen=True)
class RougeScore:
    """ROUGE-L precision, recall and F-measure of a candidate against a reference."""

    precision: float
    recall: float
    fmeasure: float


def rouge_l(candidate: str | Sequence[str], reference: str | Sequence[str], beta: float = 1.0) -> RougeScore:
    """Sentence-level ROUGE-L (Lin 2004, section 3.1): an F-measure of the longest common subsequence.

    With a reference $X$ of $m$ words and a candidate $Y$ of $n$ words,

    $$R = \\frac{\\operatorname{LCS}(X, Y)}{m}, \\qquad P = \\frac{\\operatorname{LCS}(X, Y)}{n}, \\qquad
    F = \\frac{(1 + \\beta^2)\\, R\\, P}{R + \\beta^2 P}.$$

    The LCS rewards words in the same order without asking them to be adjacent. With
    $\\beta = 1$ (the F1 that `rouge_score` reports, and Self-Instruct uses) $F$ is symmetric in
    the two texts. Strings are split with `rouge_tokenize`; lists of tokens are used as they are.
    If either side is empty, all three scores are 0.

    Raises:
        TypeError: if a text is neither a str nor a list of str, or `beta` is not a number.
        ValueError: if `beta` is not positive.
    """
    def tokens(name: str, x: object) -> list[str]:
        if isinstance(x, str):
            return rouge_tokenize(x)
        if isinstance(x, Sequence) and all(isinstance(t, str) for t in x):
            return list(x)
        raise TypeError(f"{name} must be a str or a sequence of str tokens, got {type(x).__name__}")

    if isinstance(beta, bool) or not isinstance(beta, (int, float)):
        raise TypeError(f"beta must be a number, got {type(beta).__name__}")
    if not beta > 0:
        raise ValueError(f"beta must be positive, got {beta}")
    cand, ref = tokens("candidate", candidate), tokens("reference", reference)
    if not cand or not ref:
        return RougeScore(0.0, 0.0, 0.0)
    lcs = lcs_length(ref, cand)
    recall, precision = lcs / len(ref), lcs / len(cand)
    if recall + precision == 0:
        return RougeScore(precision, recall, 0.0)
    f = (1 + beta**2) * recall * precision / (recall + beta**2 * precision)
    return RougeScore(precision, recall, f)


_BANNED_WORDS = ("image", "images", "graph", "graphs", "picture", "pictures", "file", "files",
                 "map", "maps", "draw", "plot", "go to")


def instruction_filter_reason(instruction: str) -> str | None:
    """Why Self-Instruct's released code would discard a generated instruction, or None to keep it.

    The heuristics of `bootstrap_instructions.py` (Wang et al. 2022): at most 3 or more than 150
    words; a word a text-only model cannot act on (image, graph, picture, file, map, draw, plot,
    go to); starting with "Write a program"; starting with punctuation or a non-ASCII character.

    Raises:
        TypeError: if `instruction` is not a str.
    """
    _check_str("instruction", instruction)
    words = instruction.split()
    if len(words) <= 3 or len(words) > 150:
        return "too short or too long"
    for word in _BANNED_WORDS:
        if re.search(rf"\b({word})\b", instruction, flags=re.IGNORECASE):
            return f"mentions {word!r}"
    if instruction.startswith("Write a program"):
        return "asks for a program"
    if instruction[0] in string.punctuation:
        return "starts with punctuation"
    if not instruction[0].isascii():
        return "starts with a non-ASCII character"
    return None


@dataclass
class SelfInstructResult:
    """What `self_instruct` produced.

    Attributes:
        pool: the machine-generated instructions kept, in the order they were added.
        log: one entry per candidate: `(instruction, kept, reason, max ROUGE-L, most similar)`.
    """

    pool: list[str] = field(default_factory=list)
    log: list[tuple[str, bool, str, float, str]] = field(default_factory=list)


def self_instruct(seed_instructions: Sequence[str], generate: Callable[[list[str]], list[str]], rounds: int,
                  rng: random.Random, threshold: float = 0.7, num_prompt_instructions: int = 8,
                  num_machine_in_prompt: int = 2) -> SelfInstructResult:
    """Bootstrap new instructions from a few seeds (Self-Instruct; Wang et al. 2022, section 2.2).

    Each round samples `num_prompt_instructions` instructions for the prompt (at most
    `num_machine_in_prompt` from the generated pool, the rest from the seeds: 2 and 6 in the
    paper's code), asks `generate` for new ones, and filters each candidate: first the heuristics
    of `instruction_filter_reason`, then novelty. A candidate joins the pool only if its ROUGE-L
    F-measure with every seed and pool instruction is below `threshold` (0.7):

    $$\\max_{p \\in \\text{seeds} \\cup \\text{pool}} \\operatorname{ROUGE-L}(c, p) < 0.7 .$$

    Candidates are checked one by one, so a later candidate is also compared with the earlier ones
    of the same round. (The released code rejects a score *above* 0.7, so exactly 0.7 passes
    there; the paper says "less than 0.7", as here.)

    Args:
        seed_instructions: the human-written seed tasks (175 in the paper).
        generate: the model: prompt instructions in, candidate instructions out.
        rounds: how many times to call `generate`.
        rng: source of the sampling, for reproducibility.
        threshold: the ROUGE-L similarity at or above which a candidate is a near-duplicate.
        num_prompt_instructions: instructions shown to the model per call.
        num_machine_in_prompt: how many of them may come from the generated pool.

    Raises:
        TypeError: if `generate` is not callable, `rng` not a `random.Random`, or instructions not str.
        ValueError: if there are fewer seeds than prompt slots for them, or a number is out of range.
    """
    if not callable(generate):
        raise TypeError("generate must be callable: prompt instructions in, new instructions out")
    if not isinstance(rng, random.Random):
        raise TypeError(f"rng must be a random.Random, got {type(rng).__name__}")
    seeds = [_check_str("seed_instructions[i]", s) for s in seed_instructions]
    _check_positive_int("rounds", rounds)
    _check_positive_int("num_prompt_instructions", num_prompt_instructions)
    if isinstance(num_machine_in_prompt, bool) or not isinstance(num_machine_in_prompt, int) or not (
            0 <= num_machine_in_prompt <= num_prompt_instructions):
        raise ValueError("num_machine_in_prompt must be an int between 0 and num_prompt_instructions")
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must lie in (0, 1], got {threshold}")
    if len(seeds) < num_prompt_instructions - num_machine_in_prompt:
        raise ValueError("seed_instructions must hold at least num_prompt_instructions - "
                         "num_machine_in_prompt instructions")
    result = SelfInstructResult()
    for _ in range(rounds):
        machine = rng.sample(result.pool, min(num_machine_in_prompt, len(result.pool)))
        prompt = machine + rng.sample(seeds, num_prompt_instructions - len(machine))
        rng.shuffle(prompt)
        for candidate in generate(prompt):
            _check_str("a generated instruction", candidate)
            reason = instruction_filter_reason(candidate)
            if reason is not None:
                result.log.append((candidate, False, reason, 0.0, ""))
                continue
            existing = seeds + result.pool
            scores = [rouge_l(candidate, other).fmeasure for other in existing]
            best = max(range(len(scores)), key=scores.__getitem__)
            if scores[best] >= threshold:
                result.log.append((candidate, False, "near-duplicate", scores[best], existing[best]))
                continue
            result.pool.append(candidate)
            result.log.append((candidate, True, "kept", scores[best], existing[best]))
    return result
