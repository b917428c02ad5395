"""Four encoder-only use cases through transformers.pipeline on tiny BERTs built from a config and a
WordPiece tokenizer built in code: sentiment (text-classification), named entities
(token-classification), fill-mask and embeddings for retrieval (feature-extraction), each checked against the tokenizer -> model -> post-processing
steps it hides."""

# --8<-- [start:setup]
import torch
import transformers
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from transformers import (
    BertConfig,
    BertForMaskedLM,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertModel,
    PreTrainedTokenizerFast,
    pipeline,
)

transformers.logging.set_verbosity_error()
torch.set_num_threads(1)
torch.set_default_dtype(torch.float64)  # float64: the same scores on every CPU

pieces = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "ada", "love", "##lace", "sailed", "from", "bris",
          "##tol", "to", "cape", "town", "the", "trip", "was", "great", "awful"]  # a tiny WordPiece vocabulary
backend = Tokenizer(models.WordPiece({p: i for i, p in enumerate(pieces)}, unk_token="[UNK]"))
backend.normalizer = normalizers.Lowercase()
backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
backend.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
backend.decoder = decoders.WordPiece()  # "love" + "##lace" -> "lovelace"
tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="[PAD]", unk_token="[UNK]",
                                    cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")


def tiny_bert(head, **labels):
    """A 2-layer BERT with random weights and the given head: the body of every pipeline below."""
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(pieces), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=32, pad_token_id=0, **labels)
    return head(config).eval()
# --8<-- [end:setup]


# --8<-- [start:classify]
names = ["negative", "positive"]
classifier = tiny_bert(BertForSequenceClassification, id2label=dict(enumerate(names)))
sentiment = pipeline("text-classification", model=classifier, tokenizer=tokenizer)  # alias: "sentiment-analysis"
text = "the trip was great"
print("text-classification:", [{k: round(v, 4) if k == "score" else v for k, v in r.items()}
                               for r in sentiment(text)])
everything = sentiment(text, top_k=None)  # every label, best first

with torch.no_grad():  # the same by hand: tokenize, run the model, softmax over the labels
    probs = classifier(**tokenizer(text, return_tensors="pt")).logits[0].softmax(-1)
for r in everything:
    assert abs(r["score"] - probs[names.index(r["label"])].item()) < 1e-6  # the pipeline casts to float32
print("  scores of all labels = softmax of the model's logits:",
      {r["label"]: round(r["score"], 4) for r in everything})
# --8<-- [end:classify]


# --8<-- [start:ner]
tags = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
words = ["Ada", "Lovelace", "sailed", "from", "Bristol", "to", "Cape", "Town"]
word_tags = ["B-PER", "I-PER", "O", "O", "B-LOC", "O", "B-LOC", "I-LOC"]
tagger = tiny_bert(BertForTokenClassification, id2label=dict(enumerate(tags)))
encoding = tokenizer(words, is_split_into_words=True, return_tensors="pt")
first = [w is not None and (i == 0 or encoding.word_ids()[i - 1] != w) for i, w in enumerate(encoding.word_ids())]
labels = torch.tensor([[tags.index(word_tags[w]) if f else -100 for w, f in zip(encoding.word_ids(), first)]])
optimizer = torch.optim.Adam(tagger.parameters(), lr=1e-2)
tagger.train()
for step in range(40):  # memorise this one sentence, so that the tags are not random
    loss = tagger(**encoding, labels=labels).loss
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
tagger.eval()

ner = pipeline("token-classification", model=tagger, tokenizer=tokenizer, aggregation_strategy="first")
sentence = " ".join(words)
entities = ner(sentence)
for e in entities:
    print(f"token-classification: {e['entity_group']:3} {e['word']!r:14} chars {e['start']:2}-{e['end']:2} "
          f"score {e['score']:.2f}")

with torch.no_grad():  # by hand: the tag of each word is the argmax at its first piece; B- opens a group
    predicted = tagger(**encoding).logits[0].argmax(-1)
groups = []
for word, tag in zip(words, (tags[t] for t, f in zip(predicted.tolist(), first) if f)):
    if tag.startswith("I-") and groups and groups[-1][0] == tag[2:]:
        groups[-1][1].append(word)
    elif tag != "O":
        groups.append((tag[2:], [word]))
assert [(e["entity_group"], e["word"]) for e in entities] == [(t, " ".join(w).lower()) for t, w in groups]
assert [sentence[e["start"]:e["end"]] for e in entities] == [" ".join(w) for _, w in groups]
print("  groups = BIO tags read at each word's first piece:", [(t, " ".join(w)) for t, w in groups])
# --8<-- [end:ner]


# --8<-- [start:fill_mask]
masked_lm = tiny_bert(BertForMaskedLM)
fill = pipeline("fill-mask", model=masked_lm, tokenizer=tokenizer, top_k=3)
candidates = fill("ada sailed from [MASK]")
print("fill-mask keys:", sorted(candidates[0]))

inputs = tokenizer("ada sailed from [MASK]", return_tensors="pt")
with torch.no_grad():  # by hand: softmax over the vocabulary at the masked position, then its top 3
    logits = masked_lm(**inputs).logits[0, inputs["input_ids"][0] == tokenizer.mask_token_id][0]
top = logits.softmax(-1).topk(3)
assert [c["token"] for c in candidates] == top.indices.tolist()
assert all(abs(c["score"] - p) < 1e-12 for c, p in zip(candidates, top.values.tolist()))
for c in candidates:
    print(f"  {c['token_str']:7} {c['score']:.4f}  {c['sequence']!r}")
print("  = the top 3 of softmax(logits) at [MASK]; random weights: about 1/20 each")
# --8<-- [end:fill_mask]


# --8<-- [start:embed]
encoder = tiny_bert(BertModel)
embed = pipeline("feature-extraction", model=encoder, tokenizer=tokenizer)
vectors = torch.tensor(embed("the trip was great")[0])  # nested lists: [text][token][hidden]
with torch.no_grad():  # by hand: the encoder's last hidden states, one vector per token
    hidden = encoder(**tokenizer("the trip was great", return_tensors="pt")).last_hidden_state[0]
assert torch.allclose(vectors, hidden, atol=1e-12)
print("feature-extraction:", tuple(vectors.shape), "= one 32-d vector for each of [CLS], 4 words, [SEP]")
print("  = the encoder's last_hidden_state; mean-pooled, one vector per passage for retrieval")
# --8<-- [end:embed]
