"""Why residual connections: the gradient reaching the first layer of a deep stack, with and without."""

import torch

from genai_guide.block import FeedForward


def first_layer_gradient(depth: int, residual: bool) -> tuple[float, float]:
    """Norm of d(loss)/d(W_1) of the first layer, and the spread of the output."""
    torch.manual_seed(0)  # the same weights and inputs with and without the shortcut
    layers = [FeedForward(32, activation="gelu") for _ in range(depth)]  # PyTorch's default init
    h = torch.randn(16, 32)  # 16 vectors of width 32
    for layer in layers:
        h = h + layer(h) if residual else layer(h)
    h.sum().backward()
    return layers[0].w1.weight.grad.norm().item(), h.std().item()


def fmt(g: float) -> str:
    return f"{g:.3g}" if g >= 1e-6 else "< 1e-6"


print("depth | plain stack: gradient  output std | with residuals: gradient  output std")
results = {}
for depth in (1, 4, 16, 64):
    (g_plain, s_plain), (g_res, s_res) = first_layer_gradient(depth, False), first_layer_gradient(depth, True)
    results[depth] = g_plain, g_res
    print(f"{depth:>5} | {fmt(g_plain):>22} {s_plain:>11.2f} | {fmt(g_res):>25} {s_res:>11.2f}")

assert results[1][0] == results[1][1]  # one layer: the shortcut adds x, whose gradient wrt W_1 is 0
assert results[16][0] < 1e-6 and results[16][1] > 1.0  # plain: the signal is gone; residual: it is not
