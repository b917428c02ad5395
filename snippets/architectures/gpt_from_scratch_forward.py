"""The forward pass of genai_guide.gpt.GPT written out line by line, checked against the model."""

# --8<-- [start:by-hand]
import torch
import torch.nn.functional as F

from genai_guide.gpt import GPT, GPTConfig

torch.manual_seed(0)
config = GPTConfig(vocab_size=40, context_length=64, d_model=64, n_layers=2, n_heads=4)
model = GPT(config).eval()  # random weights; we only read them
ids = torch.randint(0, config.vocab_size, (1, 10))  # one sequence of 10 token ids
B, T = ids.shape
d, h, eps = config.d_model, config.n_heads, config.layer_norm_eps

x = model.tok_emb.weight[ids] + model.pos_emb.weight[:T]  # (B, T, d): what each token is + where it is
causal = torch.ones(T, T, dtype=torch.bool).tril()  # position i may look at positions 0..i
for block in model.blocks:
    # 1. causal multi-head self-attention, on the normalized stream, added back to it
    a = F.layer_norm(x, (d,), block.ln_1.weight, block.ln_1.bias, eps)
    q, k, v = block.attn.qkv(a).split(d, dim=-1)  # three (B, T, d)
    q, k, v = (t.view(B, T, h, d // h).transpose(1, 2) for t in (q, k, v))  # (B, h, T, d_k)
    scores = q @ k.transpose(-2, -1) / (d // h) ** 0.5  # (B, h, T, T)
    weights = scores.masked_fill(~causal, float("-inf")).softmax(dim=-1)
    heads = (weights @ v).transpose(1, 2).reshape(B, T, d)  # concatenate the h heads
    x = x + block.attn.proj(heads)  # residual connection
    # 2. the MLP: widen to 4d, GELU (tanh form), back to d, added back to the stream
    m = F.layer_norm(x, (d,), block.ln_2.weight, block.ln_2.bias, eps)
    x = x + block.mlp.proj(F.gelu(block.mlp.fc(m), approximate="tanh"))
x = F.layer_norm(x, (d,), model.ln_f.weight, model.ln_f.bias, eps)  # the final layer norm
logits = x @ model.tok_emb.weight.T  # (B, T, V): the output head is the token embedding, transposed
# --8<-- [end:by-hand]

# --8<-- [start:check]
torch.testing.assert_close(logits, model(ids), atol=1e-5, rtol=0)
print("ids", tuple(ids.shape), "-> logits", tuple(logits.shape), "(same as model(ids))")

p_next = logits[0, -1].softmax(dim=-1)  # the distribution over the token after the last one
print(f"untrained: p(next token) between {p_next.min():.4f} and {p_next.max():.4f}; uniform 1/40 = {1 / 40:.4f}")


def n_params(V: int, T_max: int, d: int, N: int) -> int:
    """Embeddings, N blocks of (2 layer norms, qkv, proj, fc, proj), the final layer norm."""
    return V * d + T_max * d + N * (12 * d * d + 13 * d) + 2 * d


assert n_params(40, 64, 64, 2) == sum(p.numel() for p in model.parameters())
print(f"this model: {n_params(40, 64, 64, 2):,} parameters")
print(f"GPT-2 small (V=50257, T_max=1024, d=768, N=12): {n_params(50257, 1024, 768, 12):,}")
# --8<-- [end:check]
