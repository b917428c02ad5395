"""The online softmax: a softmax assembled from scores that arrive in chunks."""

import torch

x = torch.tensor([1.0, 3.0, 0.0, 2.0, 5.0, 1.0, 4.0, 0.0, 2.0, 7.0, 1.0, 3.0])  # one row of scores
m, total = torch.tensor(float("-inf")), torch.tensor(0.0)  # running max, running sum of exp(x - m)
for i, chunk in enumerate(x.split(4)):  # they arrive 4 at a time
    m_new = torch.maximum(m, chunk.max())
    total = total * torch.exp(m - m_new) + torch.exp(chunk - m_new).sum()  # rescale the old sum
    m = m_new
    print(f"after {4 * (i + 1):2d} scores: running max {m.item():6.3f}, running sum {total.item():6.3f}")

streamed = torch.exp(x - m) / total  # the softmax, from two numbers kept while streaming
assert torch.allclose(streamed, torch.softmax(x, dim=0), atol=1e-6)
assert torch.allclose(m + total.log(), torch.logsumexp(x, dim=0), atol=1e-6)
print("equals torch.softmax:", torch.allclose(streamed, torch.softmax(x, dim=0), atol=1e-6))
