"""Padding against packing on 200 instruction examples of uneven length: the book's packers equal
trl.pack_dataset, and the figure shows where the padding goes."""

# --8<-- [start:pack]
import random
from itertools import accumulate, pairwise

import datasets
from datasets import Dataset
from trl import pack_dataset

from genai_guide.sft import IGNORE_INDEX, pack_bfd, pack_wrapped, packed_position_ids, padding_waste

datasets.disable_progress_bars()
rng = random.Random(0)
# 200 tokenized examples: lengths spread like real SFT data (a long tail), between 8 and 128 tokens;
# the first 40% of each is a prompt, so its labels are -100.
lengths = [min(128, max(8, round(rng.lognormvariate(3.4, 0.6)))) for _ in range(200)]
input_ids = [[rng.randrange(3, 1000) for _ in range(n)] for n in lengths]
labels = [[IGNORE_INDEX if t < 0.4 * len(ids) else tok for t, tok in enumerate(ids)] for ids in input_ids]
columns = {"input_ids": input_ids, "labels": labels}
print(f"{len(lengths)} examples, {sum(lengths)} tokens, lengths {min(lengths)} to {max(lengths)}")

seq_length = 128
bfd = pack_bfd(columns, seq_length)
wrapped = pack_wrapped(columns, seq_length)
reference = Dataset.from_dict(columns)
assert pack_dataset(reference, seq_length, "bfd")[:] == bfd  # trl's best-fit decreasing
assert pack_dataset(reference, seq_length, "wrapped")[:] == wrapped  # trl's wrapped

batch = 8
padded_rows = -(-len(lengths) // batch) * batch
print(f"padded, batches of {batch}: {padded_rows} rows, {padding_waste(lengths, batch):.1%} of the tokens are padding")
fill = sum(lengths) / (len(bfd["input_ids"]) * seq_length)
print(f"BFD into rows of {seq_length}: {len(bfd['input_ids'])} rows, {fill:.1%} full, "
      f"largest row {max(map(len, bfd['input_ids']))} tokens")
starts = [0, *accumulate(lengths)]  # where each example begins in the concatenated stream
split = sum(1 for a, b in pairwise(starts) if a // seq_length != (b - 1) // seq_length)
print(f"wrapped into rows of {seq_length}: {len(wrapped['input_ids'])} rows, "
      f"{split} of {len(lengths)} examples cut across two rows")
row = next(r for r in bfd["seq_lengths"] if len(r) >= 4)  # a packed row holding several examples
positions = packed_position_ids(row)
print(f"a BFD row holds examples of {row} tokens; position ids restart at 0 at tokens",
      [t for t, p in enumerate(positions) if p == 0])
# --8<-- [end:pack]

# --8<-- [start:figure]
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # draw to a file, no window
import matplotlib.pyplot as plt

plt.rcParams["svg.hashsalt"] = "genai-guide"  # stable ids: the same figure gives the same file
fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3.4), sharex=True)
colors = ["#4c72b0", "#55a868"]
rows = 16
for r, n in enumerate(lengths[:rows]):  # the first two padded batches
    longest = max(lengths[(r // batch) * batch:(r // batch + 1) * batch])
    left.barh(r, n, color=colors[r % 2], height=0.8)
    left.barh(r, longest - n, left=n, color="#dddddd", height=0.8)
left.set_title(f"padded, batches of {batch}: {padding_waste(lengths, batch):.0%} padding", fontsize=9)
for r, seq_lengths in enumerate(bfd["seq_lengths"][:rows]):  # the first packed rows
    start = 0
    for k, n in enumerate(seq_lengths):
        right.barh(r, n, left=start, color=colors[k % 2], height=0.8, edgecolor="white", linewidth=0.5)
        start += n
    right.barh(r, seq_length - start, left=start, color="#dddddd", height=0.8)
right.set_title(f"packed (best-fit decreasing) into rows of {seq_length}: {fill:.0%} full", fontsize=9)
for ax in (left, right):
    ax.invert_yaxis()
    ax.set_xlabel("tokens (grey: padding or unused room)")
    ax.set_yticks([])
left.set_ylabel(f"first {rows} rows")
fig.tight_layout()
out_dir = Path(os.environ.get("GENAI_GUIDE_FIGURES", "."))
out_dir.mkdir(parents=True, exist_ok=True)
fig.savefig(out_dir / "sft_padding_vs_packing.svg", metadata={"Date": None})
print("saved sft_padding_vs_packing.svg")
# --8<-- [end:figure]
