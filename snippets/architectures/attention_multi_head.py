"""Multi-head self- and cross-attention from scratch, equal to torch.nn.MultiheadAttention."""

# --8<-- [start:heads]
import torch

from genai_guide.attention import MultiHeadAttention

torch.manual_seed(0)
d_model, n_heads = 16, 4  # each head works in d_k = 16 / 4 = 4 dimensions
reference = torch.nn.MultiheadAttention(d_model, n_heads, batch_first=True)
mha = MultiHeadAttention.from_torch(reference)  # same weights, our code

decoder_states = torch.randn(2, 5, d_model)  # (batch, L=5 target tokens, d_model)
encoder_states = torch.randn(2, 7, d_model)  # (batch, S=7 source tokens, d_model)

self_out, self_w = mha(decoder_states, is_causal=True)  # decoder self-attention: Q, K, V from one sequence
cross_out, cross_w = mha(decoder_states, encoder_states, encoder_states)  # cross-attention
print("causal self-attention:", tuple(self_out.shape), "weights", tuple(self_w.shape))
print("cross-attention      :", tuple(cross_out.shape), "weights", tuple(cross_w.shape))
# --8<-- [end:heads]

# --8<-- [start:check]
future = torch.ones(5, 5, dtype=torch.bool).triu(diagonal=1)  # nn.MultiheadAttention: True = masked out
ref_self, _ = reference(decoder_states, decoder_states, decoder_states, attn_mask=future)
ref_out, ref_w = reference(decoder_states, encoder_states, encoder_states)  # weights averaged over heads
diff = max((self_out - ref_self).abs().max().item(), (cross_out - ref_out).abs().max().item())
assert diff < 1e-6 and torch.allclose(cross_w.mean(dim=1), ref_w, atol=1e-6)
n_params = sum(p.numel() for p in mha.parameters())
assert n_params == sum(p.numel() for p in reference.parameters()) == 4 * d_model**2 + 4 * d_model
print("max |ours - torch.nn.MultiheadAttention| < 1e-6:", diff < 1e-6)
print("parameters: 4 * d_model^2 + 4 * d_model =", n_params)
# --8<-- [end:check]
