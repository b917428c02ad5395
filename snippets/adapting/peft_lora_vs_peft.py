"""genai_guide.lora against peft on a tiny Llama: outputs, gradients, merging and parameter counts."""

# --8<-- [start:setup]
import copy

import torch
from peft import LoraConfig, get_peft_model
from transformers import LlamaConfig, LlamaForCausalLM

from genai_guide.lora import LoRALinear, count_parameters, inject_lora, merge_lora

torch.set_num_threads(1)  # tiny matrices: extra threads only add overhead
torch.manual_seed(0)
config = LlamaConfig(vocab_size=128, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=4, bos_token_id=0, eos_token_id=1, pad_token_id=2)
base = LlamaForCausalLM(config)  # random weights stand in for a pre-trained model
targets = ["q_proj", "v_proj"]  # the attention projections the LoRA paper adapts

theirs = get_peft_model(copy.deepcopy(base), LoraConfig(r=4, lora_alpha=8, lora_dropout=0.1, target_modules=targets))
ours = copy.deepcopy(base)
names = inject_lora(ours, targets, r=4, alpha=8, dropout=0.1)
print(f"adapted {len(names)} layers, e.g. {names[0]}")

with torch.no_grad():  # the same adapter weights in both (B made non-zero, as after some training)
    for name in names:
        ref = theirs.base_model.model.get_submodule(name)
        ref.lora_B["default"].weight.normal_(std=0.1)
        mine: LoRALinear = ours.get_submodule(name)
        mine.lora_A.copy_(ref.lora_A["default"].weight)  # (r, in)
        mine.lora_B.copy_(ref.lora_B["default"].weight)  # (out, r)
print(f"trainable, all parameters: ours {count_parameters(ours)}, "
      f"peft {theirs.get_nb_trainable_parameters()}")
assert count_parameters(ours) == theirs.get_nb_trainable_parameters()
# --8<-- [end:setup]

# --8<-- [start:check]
ids = torch.randint(3, 128, (2, 12))
ours.train(), theirs.train()  # dropout on: the same seed must give the same masks
torch.manual_seed(1)
logits_ours = ours(ids).logits
torch.manual_seed(1)
logits_theirs = theirs(input_ids=ids).logits
assert torch.allclose(logits_ours, logits_theirs, atol=1e-6, rtol=0)
logits_ours.square().mean().backward()
logits_theirs.square().mean().backward()
for name in names:
    mine, ref = ours.get_submodule(name), theirs.base_model.model.get_submodule(name)
    assert torch.allclose(mine.lora_A.grad, ref.lora_A["default"].weight.grad, atol=1e-6, rtol=0)
    assert torch.allclose(mine.lora_B.grad, ref.lora_B["default"].weight.grad, atol=1e-6, rtol=0)
    assert mine.base.weight.grad is None  # the frozen weight gets no gradient
print("logits and LoRA gradients equal peft's within 1e-6 (train mode, dropout 0.1)")

ours.eval(), theirs.eval()
with torch.no_grad():
    before = ours(ids).logits
    for name in names:
        ours.get_submodule(name).merge()
    theirs.merge_adapter()
    merged = ours(ids).logits
    assert torch.allclose(merged, theirs(input_ids=ids).logits, atol=1e-6, rtol=0)
    assert torch.allclose(merged, before, atol=1e-5, rtol=0)
    for name in names:
        ours.get_submodule(name).unmerge()
    theirs.unmerge_adapter()
    for name in names:
        original = base.get_submodule(name).weight
        assert torch.allclose(ours.get_submodule(name).base.weight, original, atol=1e-6, rtol=0)
        assert torch.allclose(theirs.base_model.model.get_submodule(name).base_layer.weight, original, atol=1e-6, rtol=0)
print("merge and unmerge agree with peft's; unmerged weights = original within 1e-6")

plain_ours, plain_theirs = merge_lora(ours), theirs.merge_and_unload()
assert type(plain_ours) is type(plain_theirs) is LlamaForCausalLM
for (name, p), q in zip(plain_ours.state_dict().items(), plain_theirs.state_dict().values()):
    assert torch.allclose(p, q, atol=1e-6, rtol=0), name
print(f"merge_lora = peft merge_and_unload: {count_parameters(plain_ours)[1]:,} parameters, like the base model")
assert count_parameters(plain_ours)[1] == count_parameters(base)[1]
# --8<-- [end:check]
