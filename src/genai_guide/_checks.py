"""Input checks shared by the book's modules: clear errors that name the faulty argument."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported where a tensor is checked: modules of text metrics load without it
    from torch import Tensor


def check_float_tensor(name: str, x: object) -> Tensor:
    """Raise a clear error unless ``x`` is a floating-point tensor."""
    from torch import Tensor

    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must have a floating dtype, got {x.dtype}")
    return x


def check_same_shape(name: str, x: object, like: Tensor, like_name: str) -> Tensor:
    """Raise a clear error unless ``x`` is a floating-point tensor with the shape of ``like``."""
    x = check_float_tensor(name, x)
    if x.shape != like.shape:
        raise ValueError(f"{name} must have the shape of {like_name} {tuple(like.shape)}, got {tuple(x.shape)}")
    return x


def check_int(name: str, value: object, minimum: int) -> int:
    """Raise a clear error unless ``value`` is an int (not a bool) of at least ``minimum``."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value
