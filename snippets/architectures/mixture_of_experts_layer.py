"""A sparse mixture-of-experts layer: routing, equality with Mixtral's block, load balancing, capacity."""

# --8<-- [start:layer]
import torch
from transformers import MixtralConfig
from transformers.models.mixtral.modeling_mixtral import (
    MixtralSparseMoeBlock,
    load_balancing_loss_func,
)

from genai_guide.moe import SparseMoE, load_balancing_loss, top_k_gating

torch.manual_seed(0)
config = MixtralConfig(hidden_size=16, intermediate_size=32, num_local_experts=4, num_experts_per_tok=2,
                       experts_implementation="eager")  # the plain loop over experts
block = MixtralSparseMoeBlock(config).eval()
for p in block.parameters():  # the block is created with empty weights: fill them
    torch.nn.init.normal_(p, std=0.3)
print("transformers stores the experts fused:", {n: tuple(p.shape) for n, p in block.named_parameters()})

moe = SparseMoE(hidden_size=16, intermediate_size=32, num_experts=4, top_k=2).load_mixtral(block)
x = torch.randn(2, 5, 16)  # (batch, seq, d): 10 tokens
with torch.no_grad():
    y, router_logits = moe(x)
    reference = block(x)
print("max |ours - transformers| below 1e-5:", (y - reference).abs().max().item() < 1e-5)
assert torch.allclose(y, reference, atol=1e-5, rtol=0)

weights, experts = top_k_gating(router_logits[:3], top_k=2)
for t in range(3):
    print(f"token {t}: experts {experts[t].tolist()}, gate weights {[round(w, 3) for w in weights[t].tolist()]}")
# --8<-- [end:layer]

# --8<-- [start:balance]
ours = load_balancing_loss(router_logits, top_k=2)
theirs = load_balancing_loss_func((router_logits,), num_experts=4, top_k=2)
assert abs(ours - theirs) < 1e-6
counts = torch.bincount(router_logits.topk(2).indices.flatten(), minlength=4)
print("tokens per expert:", counts.tolist(), "| aux loss:", round(ours.item(), 4), "(uniform: 2.0)")

collapsed = torch.zeros(10, 4)
collapsed[:, 0] = 5.0  # every token prefers expert 0
print("aux loss when the router collapses:", round(load_balancing_loss(collapsed, top_k=2).item(), 4))
# --8<-- [end:balance]

# --8<-- [start:capacity]
moe.capacity_factor = 1.0  # each expert takes at most ceil(1.0 * 10 * 2 / 4) = 5 tokens
with torch.no_grad():
    y_capped, _ = moe(x)
changed = (y_capped - y).reshape(10, 16).abs().amax(-1) > 1e-4  # a lost expert moves a token by ~0.1; rounding by ~1e-7
print("tokens that lost an expert to capacity:", changed.nonzero().flatten().tolist())
# --8<-- [end:capacity]
