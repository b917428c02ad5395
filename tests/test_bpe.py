"""genai_guide.bpe against Hugging Face tokenizers: same merges, same vocabulary ids, same encodings."""

from __future__ import annotations

import json
import random

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers, trainers

from genai_guide.bpe import BPETokenizer, train_bpe
from genai_guide.texts import read_text


def reference(texts: list[str], vocab_size: int, min_frequency: int = 0):
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, show_progress=False, special_tokens=[]))
    model = json.loads(tokenizer.to_str())["model"]
    return tokenizer, model["vocab"], [tuple(m) for m in model["merges"]]


def random_corpus(rng: random.Random) -> list[str]:
    letters = rng.choice(["ab", "abc", "abcde", "aeiounst", "xyzé€"])
    return [" ".join("".join(rng.choice(letters) for _ in range(rng.randint(1, 9))) for _ in range(rng.randint(1, 40)))
            for _ in range(rng.randint(1, 6))]


@pytest.mark.parametrize("seed", range(60))
def test_training_and_encoding_equal_tokenizers(seed):
    rng = random.Random(seed)
    texts = random_corpus(rng)
    vocab_size, min_frequency = rng.randint(3, 120), rng.choice([0, 0, 2, 5])
    hf, vocab, merges = reference(texts, vocab_size, min_frequency)
    ours = train_bpe(texts, vocab_size, min_frequency)
    assert ours.merges == merges
    assert ours.vocab == vocab
    alphabet = sorted({ch for text in texts for ch in text if not ch.isspace()})
    for _ in range(5):
        text = " ".join("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12))) for _ in range(3))
        assert ours.encode(text) == hf.encode(text).ids, text


def test_real_text_equals_tokenizers():
    text = read_text("harbour").splitlines()
    hf, vocab, merges = reference(text, 400)
    ours = train_bpe(text, 400)
    assert (ours.vocab, ours.merges) == (vocab, merges)
    assert ours.encode(" ".join(text)) == hf.encode(" ".join(text)).ids


def test_vocab_size_below_alphabet_learns_no_merges():
    tok = train_bpe(["abc abd"], vocab_size=2)
    assert tok.merges == [] and set(tok.vocab) == {"a", "b", "c", "d"}


@pytest.mark.parametrize(
    "call,error,argument",
    [
        (lambda: train_bpe("a single string", 10), TypeError, "texts"),
        (lambda: train_bpe(["x"], -1), ValueError, "vocab_size"),
        (lambda: train_bpe(["x"], 10, min_frequency=-2), ValueError, "min_frequency"),
        (lambda: BPETokenizer(vocab={"a": 0}, merges=[]).tokenize_word("ab"), ValueError, "outside the vocabulary"),
        (lambda: BPETokenizer(vocab={"a": 0}, merges=[]).tokenize(3), TypeError, "text"),
    ],
)
def test_bad_input_is_rejected(call, error, argument):
    with pytest.raises(error, match=argument):
        call()
