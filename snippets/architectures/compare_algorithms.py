"""BPE, WordPiece and Unigram trained on the same text: different vocabularies, different splits."""

from tokenizers import Tokenizer, models, pre_tokenizers, trainers

from genai_guide.texts import read_text

text = read_text("harbour").splitlines()
specials = ["[UNK]", "[PAD]"]  # reserved first: ids 0 and 1 in every vocabulary below

algorithms = {
    "BPE": (models.BPE(unk_token="[UNK]"), trainers.BpeTrainer(vocab_size=250, special_tokens=specials)),
    "WordPiece": (models.WordPiece(unk_token="[UNK]"), trainers.WordPieceTrainer(vocab_size=250, special_tokens=specials)),
    "Unigram": (models.Unigram(), trainers.UnigramTrainer(vocab_size=250, special_tokens=specials, unk_token="[UNK]")),
}
sentence = "the keepers painted stronger lighthouses"
for name, (model, trainer) in algorithms.items():
    tokenizer = Tokenizer(model)
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer.show_progress = False
    tokenizer.train_from_iterator(text, trainer)
    encoding = tokenizer.encode(sentence)
    assert tokenizer.token_to_id("[UNK]") == 0 and tokenizer.token_to_id("[PAD]") == 1
    print(f"{name:>9}: {len(encoding.tokens):2d} tokens {encoding.tokens}")
