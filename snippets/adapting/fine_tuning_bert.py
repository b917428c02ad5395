"""Sentence pairs into a BERT classifier: a tokenizer trained on the fly, dynamic padding (the book's
collator against DataCollatorWithPadding), and a tiny BertForSequenceClassification whose loss and
untrained scores are checked by hand."""

# --8<-- [start:tokenizer]
import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
from transformers import BertTokenizer

from genai_guide.finetuning import paraphrase_dataset

torch.set_num_threads(1)
mrpc = paraphrase_dataset(train=500, validation=400, test=400, seed=0)

# A word-level vocabulary learned from the training sentences, with BERT's special tokens first.
trained = Tokenizer(models.WordLevel(unk_token="[UNK]"))
trained.normalizer = normalizers.BertNormalizer(lowercase=True)
trained.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
trained.train_from_iterator(list(mrpc["train"]["sentence1"]) + list(mrpc["train"]["sentence2"]),
                            trainers.WordLevelTrainer(special_tokens=specials, show_progress=False))
tokenizer = BertTokenizer(vocab=trained.get_vocab())  # adds [CLS] A [SEP] B [SEP] and segment ids

pair = mrpc["train"][0]
encoding = tokenizer(pair["sentence1"], pair["sentence2"])
print(f"vocabulary: {len(tokenizer)} tokens")
print(tokenizer.convert_ids_to_tokens(encoding["input_ids"]))
print("token_type_ids:", encoding["token_type_ids"])
# --8<-- [end:tokenizer]

# --8<-- [start:collator]
from transformers import DataCollatorWithPadding

from genai_guide.finetuning import DynamicPaddingCollator


def features(split: str) -> list[dict]:
    rows = mrpc[split]
    enc = tokenizer(list(rows["sentence1"]), list(rows["sentence2"]))
    return [{"input_ids": ids, "token_type_ids": types, "attention_mask": mask, "label": label}
            for ids, types, mask, label in zip(enc["input_ids"], enc["token_type_ids"], enc["attention_mask"],
                                               rows["label"])]


train, validation = features("train"), features("validation")
examples = train[3:7]
print("\nlengths of four examples:", [len(f["input_ids"]) for f in examples])
ours = DynamicPaddingCollator(tokenizer.pad_token_id)(examples)
reference = DataCollatorWithPadding(tokenizer)(examples)
assert ours.keys() == reference.keys() and all(torch.equal(ours[k], reference[k]) for k in ours)
for key, value in ours.items():  # the second example is 6 tokens shorter than the first
    print(f"{key:>15} {tuple(value.shape)} {value[1].tolist() if value.dim() == 2 else value.tolist()}")
padded8 = DynamicPaddingCollator(tokenizer.pad_token_id, pad_to_multiple_of=8)(examples)
assert all(torch.equal(padded8[k], DataCollatorWithPadding(tokenizer, pad_to_multiple_of=8)(examples)[k]) for k in padded8)
print("pad_to_multiple_of=8:", tuple(padded8["input_ids"].shape))

real = sum(len(f["input_ids"]) for f in train)
batches = [train[i : i + 32] for i in range(0, len(train), 32)]
dynamic = sum(len(b) * max(len(f["input_ids"]) for f in b) for b in batches)
print(f"\none epoch, batches of 32: {real:,} real tokens; padded to 128: {128 * len(train):,} "
      f"({1 - real / (128 * len(train)):.0%} padding); padded per batch: {dynamic:,} ({1 - real / dynamic:.0%} padding)")
# --8<-- [end:collator]

# --8<-- [start:model]
import torch.nn.functional as F
from transformers import BertConfig, BertForSequenceClassification

from genai_guide.finetuning import mrpc_metrics
from genai_guide.sizing import encoder_params

torch.manual_seed(0)
config = BertConfig(vocab_size=len(tokenizer), hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                    intermediate_size=128, max_position_embeddings=32, num_labels=2,
                    pad_token_id=tokenizer.pad_token_id)
model = BertForSequenceClassification(config).eval()
n_params = sum(p.numel() for p in model.parameters())
head = 64 * 2 + 2  # the classification layer on top of the pooled [CLS] vector
assert n_params == encoder_params(len(tokenizer), 64, 2, 4, 128, 32) + head
print(f"\nBertForSequenceClassification: {n_params:,} parameters, {head} of them in the new head")

batch = DynamicPaddingCollator(tokenizer.pad_token_id)(train[:8])
with torch.no_grad():
    out = model(**batch)  # the collator's names are the model's arguments, labels included
assert torch.allclose(out.loss, F.cross_entropy(out.logits, batch["labels"]), atol=1e-6)
print(f"loss on 8 pairs {out.loss.item():.4f} = cross-entropy of the logits (ln 2 = 0.6931)")

with torch.no_grad():
    val = DynamicPaddingCollator(tokenizer.pad_token_id)(validation)
    labels = val.pop("labels")
    predictions = model(**val).logits.argmax(-1)
print("untrained model on validation:", {k: round(v, 3) for k, v in mrpc_metrics(predictions, labels).items()},
      f"({int(predictions.sum())} of {len(labels)} predicted equivalent)")
# --8<-- [end:model]
