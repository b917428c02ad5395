"""Post-norm and pre-norm blocks, checked against torch.nn.TransformerEncoderLayer, and what each does
to the residual stream of a deep stack."""

# --8<-- [start:check]
import torch

from genai_guide.block import DecoderBlock

torch.manual_seed(0)
d_model, n_heads, seq = 32, 4, 6
x = torch.randn(2, seq, d_model)
causal = torch.nn.Transformer.generate_square_subsequent_mask(seq)  # -inf above the diagonal
for norm_first in (False, True):  # False: post-norm (2017), True: pre-norm (GPT-2)
    layer = torch.nn.TransformerEncoderLayer(d_model, n_heads, dim_feedforward=4 * d_model, dropout=0.0,
                                             activation="gelu", batch_first=True, norm_first=norm_first)
    block = DecoderBlock.from_torch(layer)  # same weights, our code
    diff = (block(x) - layer(x, src_mask=causal, is_causal=True)).abs().max().item()
    assert diff < 1e-5
    print(f"{'pre' if norm_first else 'post'}-norm: max |ours - TransformerEncoderLayer| < 1e-5: {diff < 1e-5}")
# --8<-- [end:check]

# --8<-- [start:stream]
torch.manual_seed(0)
n_layers = 24
post = [DecoderBlock(d_model, n_heads, norm_first=False) for _ in range(n_layers)]
pre = [DecoderBlock(d_model, n_heads, norm_first=True) for _ in range(n_layers)]
h_post = h_pre = x
print("layer | std of the residual stream: post-norm  pre-norm")
for i in range(n_layers):
    h_post, h_pre = post[i](h_post), pre[i](h_pre)
    if (i + 1) % 6 == 0:
        print(f"{i + 1:>5} | {h_post.std().item():>36.2f} {h_pre.std().item():>9.2f}")
assert abs(h_post.std().item() - 1) < 0.01 < h_pre.std().item() - 1  # post: renormalized each time
# --8<-- [end:stream]
