"""The texts the book ships, as package data: read them from anywhere the package is installed.

Snippets, pages and labs read these through `read_text`, never by a path into the repository, so a
block copied into a notebook in any folder runs as it does on the page.

Example:
    >>> from genai_guide.texts import names, read_text
    >>> names()
    ['harbour']
    >>> read_text("harbour").splitlines()[0]
    'The old harbour town woke slowly. The lighthouse keeper was the first to rise, and the baker was the second.'
"""

from __future__ import annotations

from importlib import resources

__all__ = ["names", "read_text"]


def names() -> list[str]:
    """The names of the shipped texts, sorted (`harbour`: a short story written for the book)."""
    return sorted(f.name.removesuffix(".txt") for f in resources.files(__name__).iterdir()
                  if f.name.endswith(".txt"))


def read_text(name: str) -> str:
    """The shipped text `name` (see `names()`), decoded as UTF-8.

    Args:
        name: a text's name without extension, for example `"harbour"`.

    Raises:
        TypeError: if `name` is not a string.
        ValueError: if no text of that name ships with the package.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    if name not in names():
        raise ValueError(f"name must be one of {names()}, got {name!r}")
    return resources.files(__name__).joinpath(f"{name}.txt").read_text(encoding="utf-8")
