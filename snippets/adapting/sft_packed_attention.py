"""Three sequences packed into one row: with position ids that restart at each sequence (and no
attention mask), a transformers model computes exactly the logits of three separate forward passes."""

import torch
import transformers
from transformers import LlamaConfig, LlamaForCausalLM

from genai_guide.sft import packed_position_ids

transformers.logging.set_verbosity_error()
torch.manual_seed(0)
config = LlamaConfig(vocab_size=50, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                     bos_token_id=None, eos_token_id=1, pad_token_id=0)
model = LlamaForCausalLM(config).eval()

sequences = [torch.randint(3, 50, (1, n)) for n in (5, 3, 7)]
packed = torch.cat(sequences, dim=1)  # (1, 15): one row, no padding
positions = torch.tensor([packed_position_ids([5, 3, 7])])  # restart at 0 for each sequence
print("position ids:", positions[0].tolist())

with torch.no_grad():
    separate = [model(s).logits for s in sequences]  # the reference: one forward pass each
    reset = model(packed, position_ids=positions, use_cache=False).logits  # transformers masks per sequence
    running = model(packed, use_cache=False).logits  # positions 0..14, attention across sequences
start = 0
for k, (s, alone) in enumerate(zip(sequences, separate)):
    end = start + s.shape[1]
    d_reset = (reset[:, start:end] - alone).abs().max().item()
    d_running = (running[:, start:end] - alone).abs().max().item()
    assert d_reset < 1e-5
    print(f"sequence {k}: max |logit difference| below 1e-5 with reset positions, {d_running:.3f} without")
    start = end
