"""genai_guide: the Generative AI guidebook's reference implementations.

One module a topic, each written to be read next to its chapter and tested against a reference
library. Start with `genai_guide.attention`.
"""

__version__ = "0.1.0"
