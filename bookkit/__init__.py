"""Site machinery for the book: data loading and validation, generated pages, glossary tooltips,
local assets, and the checks the tests run on pages and on the built site.

Kept apart from `src/genai_guide`, which holds only the ideas the book teaches.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
