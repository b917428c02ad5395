"""LoRA: low-rank adaptation of linear layers, written to be read.

The chapter [Parameter-efficient fine-tuning](../../adapting/peft.md) explains the method. It follows
Hu et al., *LoRA: Low-Rank Adaptation of Large Language Models* (2021), section 4.1, with the
initialisation of the reference implementation (`loralib`) and of Hugging Face `peft`, and the
optional rank-stabilised scale of Kalajdzievski, *A Rank Stabilization Scaling Factor for Fine-Tuning
with LoRA* (2023):

- `LoRALinear` wraps a frozen `nn.Linear` (or a frozen 4-bit `genai_guide.nf4.NF4Linear`, which
  makes it QLoRA) and adds $\\frac{\\alpha}{r} B A x$;
- `inject_lora` replaces the linear layers named in `target_modules` and freezes everything else;
- `merge_lora` folds $\\frac{\\alpha}{r} BA$ into the weights and removes the wrappers, `unload_lora`
  removes them without merging, `count_parameters` counts trainable and all parameters.

The tests check outputs, gradients, merging and parameter counts against `peft` (`LoraConfig` +
`get_peft_model`, `merge_and_unload`, `unmerge_adapter`, `get_nb_trainable_parameters`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genai_guide._checks import check_float_tensor as _check_float_tensor
from genai_guide.nf4 import NF4Linear

__all__ = ["LoRALinear", "count_parameters", "inject_lora", "merge_lora", "unload_lora"]


def _check_hyperparameters(r: object, alpha: object, dropout: object) -> None:
    if isinstance(r, bool) or not isinstance(r, int):
        raise TypeError(f"r must be an int, got {type(r).__name__}")
    if r < 1:
        raise ValueError(f"r must be >= 1, got {r}")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not math.isfinite(alpha):
        raise TypeError(f"alpha must be a finite number, got {alpha!r}")
    if alpha <= 0:
        raise ValueError(f"alpha must be > 0, got {alpha}")
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)):
        raise TypeError(f"dropout must be a number, got {dropout!r}")
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")


class LoRALinear(nn.Module):
    """A frozen linear layer plus a trainable low-rank update (Hu et al. 2021, section 4.1).

    $$h = W_0 x + b + \\frac{\\alpha}{r}\\, B A\\, \\operatorname{dropout}(x),
    \\qquad A \\in \\mathbb{R}^{r \\times k},\\; B \\in \\mathbb{R}^{d \\times r},\\; r \\ll \\min(d, k),$$

    where $W_0 \\in \\mathbb{R}^{d \\times k}$ (`out_features` × `in_features`) and the bias are frozen.
    $A$ starts like an `nn.Linear` weight (Kaiming-uniform with $a = \\sqrt5$, i.e. uniform in
    $\\pm 1/\\sqrt{k}$, as `peft` and `loralib` do; the paper says Gaussian) and $B$ at zero, so the
    layer starts exactly equal to the base layer. With `use_rslora=True` the scale is
    $\\alpha/\\sqrt{r}$ instead of $\\alpha/r$ (rsLoRA, Kalajdzievski 2023), which keeps the update's size
    from shrinking as the rank grows.

    After training, `merge` adds $\\frac{\\alpha}{r} BA$ to $W_0$, so inference costs nothing extra, and
    `unmerge` subtracts it again.

    Args:
        base: the layer to adapt: an `nn.Linear`, or an `NF4Linear` (QLoRA; cannot be merged).
        r: the rank $r \\ge 1$.
        alpha: the scale numerator $\\alpha > 0$.
        dropout: dropout probability on the input of the LoRA branch only.
        use_rslora: scale by $\\alpha/\\sqrt{r}$ instead of $\\alpha/r$.

    Raises:
        TypeError: if `base` is not an `nn.Linear` or `NF4Linear`, or a hyperparameter has the wrong type.
        ValueError: if `r < 1`, `alpha <= 0` or `dropout` is outside $[0, 1)$.
    """

    def __init__(self, base: nn.Module, r: int, alpha: float, dropout: float = 0.0, use_rslora: bool = False) -> None:
        super().__init__()
        if not isinstance(base, (nn.Linear, NF4Linear)):
            raise TypeError(f"base must be an nn.Linear or NF4Linear, got {type(base).__name__}")
        _check_hyperparameters(r, alpha, dropout)
        if not isinstance(use_rslora, bool):
            raise TypeError(f"use_rslora must be a bool, got {type(use_rslora).__name__}")
        self.base = base
        for p in base.parameters():
            p.requires_grad_(False)  # the pre-trained weights stay frozen
        self.in_features, self.out_features = base.in_features, base.out_features
        self.r, self.alpha, self.use_rslora = r, alpha, use_rslora
        self.scaling = alpha / math.sqrt(r) if use_rslora else alpha / r
        dtype = base.weight.dtype if isinstance(base, nn.Linear) else torch.float32
        device = base.weight.device if isinstance(base, nn.Linear) else base.packed.device
        self.lora_A = nn.Parameter(torch.empty(r, self.in_features, dtype=dtype, device=device))  # (r, k)
        self.lora_B = nn.Parameter(torch.zeros(self.out_features, r, dtype=dtype, device=device))  # (d, r)
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))  # like nn.Linear: U(-1/sqrt(k), 1/sqrt(k))
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.merged = False

    def delta_weight(self) -> Tensor:
        """The update $\\Delta W = \\frac{\\alpha}{r} B A$, `(out_features, in_features)`."""
        return (self.lora_B @ self.lora_A) * self.scaling

    def forward(self, x: Tensor) -> Tensor:
        """`(..., in_features)` -> `(..., out_features)`.

        Raises:
            TypeError: if `x` is not a floating tensor of the LoRA weights' dtype (peft would cast it).
            ValueError: if the last dimension of `x` is not `in_features`.
        """
        _check_float_tensor("x", x)
        if x.shape[-1] != self.in_features:
            raise ValueError(f"x must end in in_features={self.in_features}, got shape {tuple(x.shape)}")
        if x.dtype != self.lora_A.dtype:
            raise TypeError(f"x has dtype {x.dtype} but the LoRA weights are {self.lora_A.dtype}")
        result = self.base(x)  # W0 x + b (already includes the update once merged)
        if self.merged:
            return result
        down = F.linear(self.dropout(x), self.lora_A)  # (..., r): A x
        return result + F.linear(down, self.lora_B) * self.scaling  # + (alpha/r) B A x

    @torch.no_grad()
    def merge(self) -> None:
        """Fold the update into the base weight: $W \\leftarrow W_0 + \\frac{\\alpha}{r} BA$.

        Raises:
            TypeError: if the base layer is 4-bit (merging would need re-quantization).
            RuntimeError: if already merged.
        """
        if not isinstance(self.base, nn.Linear):
            raise TypeError("cannot merge into an NF4Linear: dequantize it to an nn.Linear first")
        if self.merged:
            raise RuntimeError("the LoRA update is already merged")
        self.base.weight += self.delta_weight()
        self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """Take the update out again: $W \\leftarrow W - \\frac{\\alpha}{r} BA$ (equal up to rounding).

        Raises:
            RuntimeError: if not merged.
        """
        if not self.merged:
            raise RuntimeError("the LoRA update is not merged")
        self.base.weight -= self.delta_weight()
        self.merged = False

    def extra_repr(self) -> str:
        return f"r={self.r}, alpha={self.alpha}, scaling={self.scaling:g}, merged={self.merged}"


def _matches(name: str, target: str) -> bool:
    """peft's rule: a module matches a target if its name is the target or ends with '.' + target."""
    return name == target or name.endswith("." + target)


def inject_lora(
    model: nn.Module,
    target_modules: list[str] | tuple[str, ...],
    r: int = 8,
    alpha: float = 8.0,
    dropout: float = 0.0,
    use_rslora: bool = False,
) -> list[str]:
    """Freeze `model` and wrap each targeted linear layer in a `LoRALinear`, in place.

    A module is targeted when its full name equals an entry of `target_modules` or ends with
    `"." + entry` (so `"q_proj"` matches `model.layers.0.self_attn.q_proj`), the rule `peft`'s
    `LoraConfig(target_modules=[...])` uses for a list. Every parameter of the model is frozen; only
    the new $A$ and $B$ matrices are trainable (peft's default `bias="none"`).

    Args:
        model: the model to adapt.
        target_modules: names (or name suffixes) of the `nn.Linear` / `NF4Linear` layers to adapt.
        r: rank.
        alpha: scale numerator.
        dropout: dropout on the LoRA branch's input.
        use_rslora: scale by $\\alpha/\\sqrt{r}$.

    Returns:
        The full names of the wrapped modules, in order.

    Raises:
        TypeError: if `target_modules` is not a list of strings or a targeted module is not linear.
        ValueError: if `target_modules` is empty, an entry matches no module, a module is already
            wrapped, or a hyperparameter is out of range.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if isinstance(target_modules, str) or not isinstance(target_modules, (list, tuple)) or not all(
        isinstance(t, str) for t in target_modules
    ):
        raise TypeError(f"target_modules must be a list of module names, got {target_modules!r}")
    if not target_modules:
        raise ValueError("target_modules must name at least one module")
    _check_hyperparameters(r, alpha, dropout)
    names = [name for name, _ in model.named_modules() if name and any(_matches(name, t) for t in target_modules)]
    missing = [t for t in target_modules if not any(_matches(name, t) for name in names)]
    if missing:
        raise ValueError(f"target_modules {missing} match no module of the model")
    for name in names:
        module = model.get_submodule(name)
        if isinstance(module, LoRALinear):
            raise ValueError(f"target_modules: {name} already has a LoRA adapter")  # noqa: TRY004
        if not isinstance(module, (nn.Linear, NF4Linear)):
            raise TypeError(f"target_modules: {name} is a {type(module).__name__}, not a linear layer")
    for p in model.parameters():
        p.requires_grad_(False)
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        setattr(parent, child, LoRALinear(getattr(parent, child), r, alpha, dropout, use_rslora))
    return names


def _replace_wrappers(model: nn.Module, merge: bool) -> nn.Module:
    wrapped = [name for name, m in model.named_modules() if isinstance(m, LoRALinear)]
    if not wrapped:
        raise ValueError("model has no LoRA adapters")
    for name in wrapped:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        layer: LoRALinear = getattr(parent, child)
        if merge and not layer.merged:
            layer.merge()
        elif not merge and layer.merged:
            layer.unmerge()
        setattr(parent, child, layer.base)
    return model


def merge_lora(model: nn.Module) -> nn.Module:
    """Merge every adapter into its base weight and put the plain layers back (peft's `merge_and_unload`).

    The result has exactly the original architecture and parameter count, and computes
    $(W_0 + \\frac{\\alpha}{r}BA)x + b$. The layers stay frozen.

    Raises:
        ValueError: if the model has no adapters.
        TypeError: if a base layer is 4-bit.
    """
    return _replace_wrappers(model, merge=True)


def unload_lora(model: nn.Module) -> nn.Module:
    """Remove every adapter without merging (peft's `unload`): the base model comes back unchanged.

    Raises:
        ValueError: if the model has no adapters.
    """
    return _replace_wrappers(model, merge=False)


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """`(trainable, total)` parameter counts, as peft's `get_nb_trainable_parameters` returns them.

    A parameter shared by several modules (tied embeddings) is counted once. Buffers, such as the
    packed weights of an `NF4Linear`, are not parameters and are not counted.

    Raises:
        TypeError: if `model` is not an `nn.Module`.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    params = list(model.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)
