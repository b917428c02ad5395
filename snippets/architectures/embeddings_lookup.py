"""An embedding lookup is a one-hot vector times the embedding matrix."""

import torch
import torch.nn.functional as F

torch.manual_seed(0)
torch.set_printoptions(precision=3, sci_mode=False)
vocab_size, d_model = 6, 4  # a 6-token vocabulary, 4 numbers per token
embedding = torch.nn.Embedding(vocab_size, d_model)  # weight (6, 4): one learned row per token id
ids = torch.tensor([2, 5, 2])  # a 3-token sequence; token 2 appears twice

rows = embedding(ids)  # (3, 4): row ids[j] of the weight, for each j
one_hot = F.one_hot(ids, num_classes=vocab_size).float()  # (3, 6): a single 1 per row
print("one-hot:\n", one_hot)
print("lookup:\n", rows.detach())
assert torch.equal(rows, embedding.weight[ids])  # a lookup is indexing
assert torch.equal(one_hot @ embedding.weight, rows)  # ... and a matrix product
print("one_hot @ weight equals the lookup:", torch.equal(one_hot @ embedding.weight, rows))

rows.sum().backward()  # only the rows that were looked up get a gradient
print("rows with a gradient:", embedding.weight.grad.abs().sum(dim=1).nonzero().flatten().tolist())
print("gradient of row 2 (used twice):", embedding.weight.grad[2].tolist())
