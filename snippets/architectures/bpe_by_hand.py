"""Byte-pair encoding step by step, then the book's trainer checked against Hugging Face tokenizers."""

# --8<-- [start:by-hand]
from collections import Counter

corpus = {"low": 5, "lower": 2, "newest": 6, "widest": 3}  # word counts, the example of Sennrich et al.
words = {tuple(word): count for word, count in corpus.items()}  # every word starts as characters


def count_pairs(words: dict[tuple[str, ...], int]) -> Counter:
    pairs = Counter()
    for symbols, count in words.items():
        for pair in zip(symbols, symbols[1:]):
            pairs[pair] += count  # a pair inside a frequent word counts that many times
    return pairs


def merge(words: dict[tuple[str, ...], int], pair: tuple[str, str]) -> dict[tuple[str, ...], int]:
    merged_words = {}
    for symbols, count in words.items():
        out, i = [], 0
        while i < len(symbols):
            if symbols[i:i + 2] == pair:
                out.append(pair[0] + pair[1])
                i += 2
            else:
                out.append(symbols[i])
                i += 1
        merged_words[tuple(out)] = count
    return merged_words


learned = []
for step in range(1, 6):
    pairs = count_pairs(words)
    best = min(pairs, key=lambda p: (-pairs[p], p))  # most frequent; ties go to the smaller pair
    tied = sorted(p for p in pairs if pairs[p] == pairs[best] and p != best)  # lost the tie-break
    learned.append(best)
    words = merge(words, best)
    print(f"step {step}: merge {best} (seen {pairs[best]} times) -> {[' '.join(w) for w in words]}")
    if tied:
        print(f"        tied with {', '.join(map(str, tied))}")
# --8<-- [end:by-hand]

# --8<-- [start:check]
import json

from tokenizers import Tokenizer, models, pre_tokenizers, trainers

from genai_guide.bpe import train_bpe
from genai_guide.texts import read_text

ours_toy = train_bpe([" ".join([w] * c) for w, c in corpus.items()], vocab_size=10 + 5)  # 10 letters + 5 merges
assert ours_toy.merges == learned

text = read_text("harbour").splitlines()
ours = train_bpe(text, vocab_size=300)

reference = Tokenizer(models.BPE())
reference.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
reference.train_from_iterator(text, trainers.BpeTrainer(vocab_size=300, show_progress=False))
ref_model = json.loads(reference.to_str())["model"]
assert ours.vocab == ref_model["vocab"]
assert ours.merges == [tuple(m) for m in ref_model["merges"]]

print(f"\nharbour corpus: {len(ours.vocab)} tokens = {len(ours.vocab) - len(ours.merges)} characters"
      f" + {len(ours.merges)} merges, identical to tokenizers' BPE")
print("first merges:", " ".join("".join(m) for m in ours.merges[:12]))
for word in ("keeper", "fastest", "lighthouse", "unpainted"):
    tokens = ours.tokenize(word)
    assert tokens == reference.encode(word).tokens
    print(f"{word:>10} -> {tokens}")
# --8<-- [end:check]
