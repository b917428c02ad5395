"""SGD with momentum, Adam and AdamW written out in a few lines each, checked step for step against
torch.optim.SGD, Adam and AdamW, then compared on a small linear regression in float64."""

# --8<-- [start:rules]
import torch


def sgd(p, g, state, lr, momentum=0.0, weight_decay=0.0):
    """torch.optim.SGD: an L2 term joins the gradient; the momentum buffer starts at the first gradient."""
    g = g + weight_decay * p
    if momentum:
        g = state["b"] = g if "b" not in state else momentum * state["b"] + g
    p -= lr * g


def adam(p, g, state, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    """Adam (Kingma and Ba 2014, Algorithm 1) as torch.optim.Adam, whose weight_decay is an L2 term."""
    beta1, beta2 = betas
    g = g + weight_decay * p
    t = state["t"] = state.get("t", 0) + 1
    m = state["m"] = beta1 * state.get("m", 0) + (1 - beta1) * g  # running mean of the gradient
    v = state["v"] = beta2 * state.get("v", 0) + (1 - beta2) * g**2  # ... and of its square
    m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)  # undo the pull towards the zero start
    p -= lr * m_hat / (v_hat.sqrt() + eps)


def adamw(p, g, state, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
    """AdamW (Loshchilov and Hutter 2017) as torch.optim.AdamW: shrink the weights, then a plain Adam step."""
    p -= lr * weight_decay * p  # decoupled: the decay never enters m or v
    adam(p, g, state, lr, betas, eps)
# --8<-- [end:rules]


# --8<-- [start:check]
torch.manual_seed(0)
w_true = torch.tensor([2.0, -3.0, 0.5, 0.0, 1.0], dtype=torch.float64)
X = torch.randn(64, 5, dtype=torch.float64)  # a small regression: y = X w_true + 1 + noise
y = X @ w_true + 1 + 0.1 * torch.randn(64, dtype=torch.float64)
start = [torch.randn(5, dtype=torch.float64), torch.zeros((), dtype=torch.float64)]  # weights w, bias b


def mse(w, b):
    return ((X @ w + b - y) ** 2).mean()


runs = {  # name: (ours, torch's, hyperparameters)
    "SGD": (sgd, torch.optim.SGD, {"lr": 0.02}),
    "SGD, momentum 0.9": (sgd, torch.optim.SGD, {"lr": 0.02, "momentum": 0.9}),
    "Adam": (adam, torch.optim.Adam, {"lr": 0.1}),
    "Adam, L2 0.1": (adam, torch.optim.Adam, {"lr": 0.1, "weight_decay": 0.1}),
    "AdamW, decay 0.1": (adamw, torch.optim.AdamW, {"lr": 0.1, "weight_decay": 0.1}),
}
print("optimizer            loss after 10, 30, 100 steps     |w|")
for name, (ours, reference, hyper) in runs.items():
    mine = [p.clone().requires_grad_() for p in start]
    theirs = [p.clone().requires_grad_() for p in start]
    optimizer, states, losses = reference(theirs, **hyper), [{}, {}], {}
    for step in range(1, 101):
        grads = torch.autograd.grad(mse(*mine), mine)
        with torch.no_grad():
            for p, g, state in zip(mine, grads, states):
                ours(p, g, state, **hyper)
        optimizer.zero_grad()
        mse(*theirs).backward()
        optimizer.step()
        for a, b in zip(mine, theirs):
            assert torch.allclose(a, b, rtol=1e-12, atol=1e-12), (name, step)  # the same update, every step
        if step in (10, 30, 100):
            losses[step] = mse(*mine).item()
    print(f"{name:18}  {losses[10]:8.4f} {losses[30]:8.4f} {losses[100]:8.4f}   {mine[0].norm():6.3f}")
print(f"every step of every run equals torch.optim within 1e-12; |w_true| = {w_true.norm():.3f}")
# --8<-- [end:check]
