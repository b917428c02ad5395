"""Byte-pair encoding (BPE): train a subword vocabulary by merging frequent pairs, then tokenize.

Follows Sennrich et al., *Neural Machine Translation of Rare Words with Subword Units* (2015), with
the exact conventions of Hugging Face `tokenizers` (`models.BPE` + `trainers.BpeTrainer` on
whitespace-split words), so that the merges, the vocabulary ids and the encodings are identical:

- the initial alphabet is every character of the corpus, numbered in code-point order;
- each step merges the pair with the highest count, breaking ties by the smaller pair of ids;
- a new token gets the next free id; training stops at `vocab_size` or when no pair is left;
- encoding applies the learned merges to each word, lowest rank (earliest learned) first.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["BPETokenizer", "train_bpe"]

Pair = tuple[int, int]


@dataclass
class BPETokenizer:
    """A trained BPE vocabulary: `vocab` maps token -> id, `merges` lists the merges in order."""

    vocab: dict[str, int]
    merges: list[tuple[str, str]]
    _ranks: dict[tuple[str, str], int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._ranks = {pair: rank for rank, pair in enumerate(self.merges)}

    def tokenize_word(self, word: str) -> list[str]:
        """Split one word into tokens by applying merges, earliest learned first (leftmost on ties).

        Raises:
            ValueError: if `word` contains a character outside the trained alphabet.
        """
        unknown = sorted({ch for ch in word if ch not in self.vocab})
        if unknown:
            raise ValueError(f"word contains characters outside the vocabulary: {unknown}")
        symbols = list(word)
        while len(symbols) > 1:
            ranked = [(self._ranks.get((a, b), len(self._ranks)), i) for i, (a, b) in enumerate(zip(symbols, symbols[1:]))]
            rank, i = min(ranked)
            if rank == len(self._ranks):  # no learned merge applies any more
                break
            symbols[i:i + 2] = [symbols[i] + symbols[i + 1]]
        return symbols

    def tokenize(self, text: str) -> list[str]:
        """Whitespace-split `text` and tokenize each word."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        return [token for word in text.split() for token in self.tokenize_word(word)]

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`."""
        return [self.vocab[token] for token in self.tokenize(text)]


def train_bpe(texts: Iterable[str], vocab_size: int, min_frequency: int = 0) -> BPETokenizer:
    """Learn a BPE vocabulary of at most `vocab_size` tokens from `texts`.

    Each step counts every adjacent pair of symbols $(a, b)$ in the corpus, weighting each word by
    its frequency, and merges the most frequent pair into a new symbol $ab$:

    $$(a, b)^* = \\arg\\max_{(a, b)} \\sum_{w} \\text{count}(w) \\cdot \\#_{(a,b)}(w)$$

    Args:
        texts: training text; split into words on whitespace.
        vocab_size: the vocabulary size to stop at (the alphabet counts towards it).
        min_frequency: stop when the best pair occurs fewer times than this.

    Returns:
        The trained `BPETokenizer`.

    Raises:
        TypeError: if `texts` is a single string instead of an iterable of strings.
        ValueError: if `vocab_size` or `min_frequency` is negative.
    """
    if isinstance(texts, str):
        raise TypeError("texts must be an iterable of strings, not a single str")
    if not isinstance(vocab_size, int) or vocab_size < 0:
        raise ValueError(f"vocab_size must be a non-negative int, got {vocab_size!r}")
    if min_frequency < 0:
        raise ValueError(f"min_frequency must be non-negative, got {min_frequency!r}")

    word_counts = Counter(word for text in texts for word in text.split())
    alphabet = sorted({ch for word in word_counts for ch in word})  # code-point order, as tokenizers does
    id_to_token = list(alphabet)
    token_to_id = {tok: i for i, tok in enumerate(id_to_token)}
    words = [[token_to_id[ch] for ch in word] for word in word_counts]  # each word as a list of ids
    counts = list(word_counts.values())

    pair_counts: Counter[Pair] = Counter()
    for word, count in zip(words, counts):
        for pair in zip(word, word[1:]):
            pair_counts[pair] += count

    merges: list[tuple[str, str]] = []
    while len(id_to_token) < vocab_size and pair_counts:
        # highest count; on a tie the smaller (left id, right id) pair wins
        best, best_count = min(pair_counts.items(), key=lambda item: (-item[1], item[0]))
        if best_count < 1 or best_count < min_frequency:
            break
        a, b = id_to_token[best[0]], id_to_token[best[1]]
        merges.append((a, b))
        new_id = token_to_id.setdefault(a + b, len(id_to_token))
        if new_id == len(id_to_token):
            id_to_token.append(a + b)
        for w, (word, count) in enumerate(zip(words, counts)):
            if len(word) < 2 or best[0] not in word:
                continue
            merged, i = [], 0
            while i < len(word):  # merge non-overlapping occurrences, left to right
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    merged.append(new_id)
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            if len(merged) != len(word):
                for pair in zip(word, word[1:]):
                    pair_counts[pair] -= count
                for pair in zip(merged, merged[1:]):
                    pair_counts[pair] += count
                words[w] = merged
        pair_counts = Counter({pair: c for pair, c in pair_counts.items() if c > 0})
    return BPETokenizer(vocab=dict(token_to_id), merges=merges)
