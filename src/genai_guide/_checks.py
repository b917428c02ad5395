"""Input checks shared by the book's modules: clear errors that name the faulty argument."""

from __future__ import annotations

from torch import Tensor


def check_float_tensor(name: str, x: object) -> Tensor:
    """Raise a clear error unless ``x`` is a floating-point tensor."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must have a floating dtype, got {x.dtype}")
    return x
