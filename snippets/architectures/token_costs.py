"""Why numbers, code and other languages cost more tokens: a byte-level BPE trained on English."""

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from genai_guide.texts import read_text

text = read_text("harbour").splitlines()
tokenizer = Tokenizer(models.BPE())
tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)  # any text becomes bytes first
tokenizer.decoder = decoders.ByteLevel()
trainer = trainers.BpeTrainer(vocab_size=500, show_progress=False,
                              initial_alphabet=pre_tokenizers.ByteLevel.alphabet())  # all 256 bytes
tokenizer.train_from_iterator(text, trainer)

samples = {
    "English, seen words": "The keeper climbed the tower and lit the lamp.",
    "English, rare words": "Quixotic zookeepers juggled xylophones.",
    "numbers": "3.14159 + 2,718,281 = 2,718,284.14159",
    "code": "def area(r):\n    return 3.14159 * r ** 2",
    "German": "Der Leuchtturmwärter stieg auf den Turm.",
    "Japanese": "灯台守は塔に登り、灯りをともした。",
}
print(f"{'text':>20} | chars | bytes | tokens | tokens per char")
costs = {}
for name, sample in samples.items():
    ids = tokenizer.encode(sample).ids
    assert tokenizer.decode(ids) == sample  # byte-level BPE never loses a character
    costs[name] = len(ids) / len(sample)
    print(f"{name:>20} | {len(sample):5d} | {len(sample.encode()):5d} | {len(ids):6d} | {costs[name]:.2f}")
assert costs["English, seen words"] == min(costs.values())
assert costs["Japanese"] == max(costs.values())  # three bytes per character, none of them merged
