"""Build GPT-2 small, BERT-base and T5-small from their configs, offline, and count their parameters."""

# --8<-- [start:count]
import torch
from transformers import BertConfig, BertModel, GPT2Config, GPT2LMHeadModel, T5Config, T5ForConditionalGeneration

architectures = {  # the published sizes, spelled out (these are also the classes' defaults)
    "GPT-2 small": (GPT2LMHeadModel, GPT2Config(n_embd=768, n_layer=12, n_head=12, vocab_size=50257, n_positions=1024)),
    "BERT-base": (BertModel, BertConfig(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                                        intermediate_size=3072, vocab_size=30522)),
    "T5-small": (T5ForConditionalGeneration, T5Config(d_model=512, d_ff=2048, num_layers=6, num_heads=8, vocab_size=32128)),
}
counts = {}
with torch.device("meta"):  # shapes only: no memory, no random initialisation, no download
    for name, (model_class, config) in architectures.items():
        model = model_class(config)
        counts[name] = sum(p.numel() for p in model.parameters())  # tied embeddings are counted once
        print(f"{name:12s} {counts[name]:>12,d} parameters (~{counts[name] / 1e6:.0f}M)")
# --8<-- [end:count]

# --8<-- [start:by-hand]
d, layers, vocab, positions = 768, 12, 50257, 1024
per_block = 12 * d**2 + 13 * d  # attention 4d^2+4d, MLP 8d^2+5d, two layer norms 4d
by_hand = layers * per_block + vocab * d + positions * d + 2 * d  # + token, position embeddings, final norm
print(f"GPT-2 small by hand: {layers} x {per_block:,d} + {vocab * d:,d} + {positions * d:,d} + {2 * d:,d} = {by_hand:,d}")
assert by_hand == counts["GPT-2 small"]
# --8<-- [end:by-hand]
