"""Learned absolute positions (GPT-2's wpe, BERT's position_embeddings) and their maximum length."""

import torch
from transformers import BertConfig, BertModel, GPT2Config, GPT2Model

for name, cfg in (("GPT-2 small", GPT2Config()), ("BERT-base", BertConfig())):  # default configs
    n_pos, width = cfg.max_position_embeddings, cfg.hidden_size
    print(f"{name}: {cfg.vocab_size:,} tokens and {n_pos:,} positions of width {width}: "
          f"{cfg.vocab_size * width:,} + {n_pos * width:,} embedding parameters")

torch.manual_seed(0)
config = GPT2Config(vocab_size=100, n_positions=16, n_embd=32, n_layer=1, n_head=2,
                    bos_token_id=0, eos_token_id=0)  # a tiny GPT-2 with room for 16 positions
gpt2 = GPT2Model(config).eval()
print("wte:", gpt2.wte, " wpe:", gpt2.wpe)
ids = torch.randint(0, 100, (1, 10))
with torch.no_grad():
    first = gpt2(ids, output_hidden_states=True).hidden_states[0]  # what enters the first block
    by_hand = gpt2.wte(ids) + gpt2.wpe(torch.arange(10))  # token row + position row
assert torch.allclose(first, by_hand)
print("GPT-2 input = wte[ids] + wpe[0..9]:", torch.allclose(first, by_hand))

bert_config = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=16, pad_token_id=0)
e = BertModel(bert_config).eval().embeddings
with torch.no_grad():
    summed = (e.word_embeddings(ids) + e.position_embeddings(torch.arange(10))
              + e.token_type_embeddings(torch.zeros_like(ids)))  # BERT also adds a segment row
    ours = e.LayerNorm(summed)
    assert torch.allclose(e(input_ids=ids), ours, atol=1e-6)
print("BERT input = LayerNorm(word + position + segment):", True)

try:
    gpt2(torch.randint(0, 100, (1, 17)))  # one token more than the table has rows
except IndexError as err:
    print("17 tokens into 16 positions:", type(err).__name__, "-", err)
else:
    raise AssertionError("expected an IndexError")
