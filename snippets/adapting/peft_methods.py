"""Adapters from scratch, prefix tuning, prompt tuning and IA3 with peft, on one tiny Llama; then a table of
trainable parameters and training memory for every method, on that model and scaled to a 7B model."""

# --8<-- [start:adapter]
import torch
from peft import (
    IA3Config,
    LoraConfig,
    PrefixTuningConfig,
    PromptTuningConfig,
    TaskType,
    get_peft_model,
)
from torch import nn
from transformers import LlamaConfig, LlamaForCausalLM

from genai_guide.lora import count_parameters

torch.set_num_threads(1)
config = LlamaConfig(vocab_size=128, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=4, bos_token_id=0, eos_token_id=1, pad_token_id=2)


def tiny_llama() -> LlamaForCausalLM:
    torch.manual_seed(0)  # the same "pre-trained" weights every time
    return LlamaForCausalLM(config)


class BottleneckAdapter(nn.Module):
    """Houlsby et al. 2019: h + W_up f(W_down h), placed after a sublayer's output projection."""

    def __init__(self, d: int, m: int) -> None:
        super().__init__()
        self.down, self.up = nn.Linear(d, m), nn.Linear(m, d)  # d -> m -> d, m << d
        nn.init.normal_(self.down.weight, std=1e-2)
        nn.init.zeros_(self.down.bias)
        nn.init.zeros_(self.up.weight)  # starts as the identity: the model is unchanged at step 0
        nn.init.zeros_(self.up.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.up(nn.functional.gelu(self.down(h)))


def add_adapters(model: LlamaForCausalLM, m: int) -> LlamaForCausalLM:
    for p in model.parameters():
        p.requires_grad_(False)  # freeze the base model
    for layer in model.model.layers:  # two adapters per block: after attention and after the MLP
        layer.self_attn.o_proj = nn.Sequential(layer.self_attn.o_proj, BottleneckAdapter(config.hidden_size, m))
        layer.mlp.down_proj = nn.Sequential(layer.mlp.down_proj, BottleneckAdapter(config.hidden_size, m))
    return model


torch.manual_seed(1)
ids = torch.randint(3, 128, (2, 12))  # a batch of two 12-token sequences
with torch.no_grad():
    assert torch.equal(add_adapters(tiny_llama(), m=16)(ids).logits, tiny_llama()(ids).logits)
print("adapters (m = 16) start as the identity: same logits as the base model")
# --8<-- [end:adapter]

# --8<-- [start:prompts]
R, M, VIRTUAL = 8, 16, 20  # LoRA rank, adapter bottleneck, virtual tokens: the same for every model size
methods = {
    "LoRA": get_peft_model(tiny_llama(), LoraConfig(r=R, lora_alpha=16, target_modules=["q_proj", "v_proj"])),
    "adapters": add_adapters(tiny_llama(), m=M),
    "prefix tuning": get_peft_model(tiny_llama(), PrefixTuningConfig(task_type=TaskType.CAUSAL_LM,
                                                                     num_virtual_tokens=VIRTUAL)),
    "prompt tuning": get_peft_model(tiny_llama(), PromptTuningConfig(task_type=TaskType.CAUSAL_LM,
                                                                     num_virtual_tokens=VIRTUAL)),
    "IA3": get_peft_model(tiny_llama(), IA3Config(task_type=TaskType.CAUSAL_LM)),  # scales k, v, MLP input
}
for name in ("prefix tuning", "prompt tuning"):
    model = methods[name]
    frozen = {n: p.detach().clone() for n, p in model.get_base_model().named_parameters()}
    out = model(input_ids=ids, labels=ids)
    out.loss.backward()
    torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1).step()
    assert all(torch.equal(p, frozen[n]) for n, p in model.get_base_model().named_parameters())  # base frozen
    trained = [n for n, p in model.named_parameters() if p.requires_grad]
    print(f"{name}: trains only {trained}, logits {tuple(out.logits.shape)} for 12 input tokens")
# --8<-- [end:prompts]

# --8<-- [start:table]
from genai_guide.nf4 import bits_per_parameter
from genai_guide.sizing import decoder_params, training_bytes_per_param


def trainable_formula(method: str, L: int, d: int, d_ff: int) -> int:
    """Trainable parameters of each method on a Llama-style model without grouped-query attention."""
    return {
        "full fine-tuning": None,  # every parameter
        "LoRA": L * 2 * R * (d + d),  # A (r x d) and B (d x r) for q_proj and v_proj
        "QLoRA": L * 2 * R * (d + d),  # the same adapters, on a 4-bit base
        "adapters": L * 2 * (d * M + M + M * d + d),  # two bottlenecks per block, with biases
        "prefix tuning": VIRTUAL * L * 2 * d,  # a key and a value vector per virtual token and layer
        "prompt tuning": VIRTUAL * d,  # one embedding per virtual token
        "IA3": L * (d + d + d_ff),  # one scale per key, value and MLP hidden unit
    }[method]


def table(n_total: int, n_linear: int, L: int, d: int, d_ff: int, unit: float, unit_name: str) -> None:
    """Training memory = frozen weights (bf16, or NF4 for QLoRA) + 16 bytes per trainable parameter
    (bf16 weight and gradient, fp32 master copy, two Adam moments). Activations are left out."""
    per_trainable = sum(training_bytes_per_param(mixed_precision=True).values())  # 16 bytes
    print(f"{'method':17s} {'trainable':>13s} {'% of model':>10s} {'memory, ' + unit_name:>12s}")
    for method in ("full fine-tuning", "LoRA", "QLoRA", "adapters", "prefix tuning", "prompt tuning", "IA3"):
        trainable = trainable_formula(method, L, d, d_ff)
        if trainable is None:
            trainable, frozen_bytes = n_total, 0
        elif method == "QLoRA":  # linear layers in NF4 with double quantization, the rest in bf16
            frozen_bytes = n_linear * bits_per_parameter(64, double_quant=True) / 8 + (n_total - n_linear) * 2
        else:
            frozen_bytes = n_total * 2
        memory = frozen_bytes + trainable * per_trainable
        print(f"{method:17s} {trainable:13,d} {trainable / n_total:10.3%} {memory / unit:12.2f}")


n_tiny = count_parameters(tiny_llama())[1]
for name, model in methods.items():  # the formulas against what peft (and our adapters) really create
    trainable = model.get_nb_trainable_parameters()[0] if hasattr(model, "peft_config") else count_parameters(model)[0]
    assert trainable == trainable_formula(name, 2, 64, 128), name
L, d, d_ff = 2, 64, 128
print(f"\ntiny Llama, {n_tiny:,} parameters (counts checked against the models above):")
table(n_tiny, L * (4 * d * d + 3 * d * d_ff), L, d, d_ff, 1e3, "kB")

L, d, d_ff = 32, 4096, 11008  # Llama-2-7B-like, as in architectures/counting.md
n_7b = decoder_params(32000, d, L, 32, d_ff, 4096, tied=False, bias=False, learned_positions=False,
                      gated_mlp=True, norm="rmsnorm")
print(f"\nLlama-2-7B-like, {n_7b:,} parameters (the same formulas):")
table(n_7b, L * (4 * d * d + 3 * d * d_ff), L, d, d_ff, 1e9, "GB")
# --8<-- [end:table]
