"""Named entity recognition as token classification: BIO tags aligned to WordPiece tokens with -100,
and BertForTokenClassification's loss checked by hand."""

import torch
import torch.nn.functional as F
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
from transformers import BertConfig, BertForTokenClassification, PreTrainedTokenizerFast

tags = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]  # BIO: Beginning or Inside of a person or a location, or Outside
sentence = ["Ada", "Lovelace", "sailed", "from", "Bristol", "to", "Cape", "Town"]
sentence_tags = ["B-PER", "I-PER", "O", "O", "B-LOC", "O", "B-LOC", "I-LOC"]  # one tag per word

pieces = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "ada", "love", "##lace", "sailed", "from", "bris", "##tol", "to",
          "cape", "town"]  # a tiny WordPiece vocabulary: two names split into pieces
backend = Tokenizer(models.WordPiece({p: i for i, p in enumerate(pieces)}, unk_token="[UNK]"))
backend.normalizer = normalizers.Lowercase()
backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
backend.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="[PAD]", unk_token="[UNK]",
                                    cls_token="[CLS]", sep_token="[SEP]")
encoding = tokenizer(sentence, is_split_into_words=True)

labels, previous = [], None
for word in encoding.word_ids():  # which word each token came from (None for [CLS] and [SEP])
    labels.append(-100 if word is None or word == previous else tags.index(sentence_tags[word]))
    previous = word  # only the first piece of a word carries its tag; the rest, like [CLS], get -100
for token, label in zip(encoding.tokens(), labels):
    print(f"{token:8} {tags[label] if label != -100 else -100}")

torch.manual_seed(0)
config = BertConfig(vocab_size=len(pieces), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                    intermediate_size=64, max_position_embeddings=16, pad_token_id=0, num_labels=len(tags))
tagger = BertForTokenClassification(config).double().eval()  # random weights: a linear layer over every token
ids, y = torch.tensor([encoding["input_ids"]]), torch.tensor([labels])
out = tagger(input_ids=ids, labels=y)
keep = y[0] != -100
by_hand = F.cross_entropy(out.logits[0, keep], y[0, keep])
assert abs(by_hand - out.loss) < 1e-10
print(f"logits {tuple(out.logits.shape)}: {len(tags)} tag scores for each of the {ids.shape[1]} tokens; "
      f"loss over the {keep.sum().item()} tagged tokens {by_hand.item():.4f} by hand and by the model "
      f"(ln {len(tags)} = {torch.log(torch.tensor(float(len(tags)))).item():.4f})")
