"""Benchmark contamination: which test items share long n-grams with the training text, and what an
n-gram check cannot see."""

# --8<-- [start:overlap]
from genai_guide.metrics import ngram_overlap, words
from genai_guide.texts import read_text

training_text = read_text("harbour")  # stands in for a pre-training corpus
test_items = {
    "copied": "Its first captain had sailed it through the hardest winter anyone remembered, "
              "when the harbour froze and the lamp failed. Who kept the lamp burning?",
    "reformatted": "ITS FIRST CAPTAIN HAD SAILED IT THROUGH THE HARDEST WINTER ANYONE REMEMBERED -- "
                   "WHEN THE HARBOUR FROZE, AND THE LAMP FAILED! Who kept the lamp burning?",
    "paraphrased": "The first captain took the boat through the worst winter in memory, when the "
                   "harbour iced over and the lamp went out. Who kept the lamp burning?",
    "new": "A fisherman caught three fish on Monday and twice as many on Tuesday. How many in all?",
}
print(f"{len(words(training_text))} training words")
print("item          words  13-gram overlap  8-gram overlap")
for name, item in test_items.items():
    print(f"{name:12s}  {len(words(item)):5d}  {ngram_overlap(item, training_text, 13):15.2f}  "
          f"{ngram_overlap(item, training_text, 8):14.2f}")
assert ngram_overlap(test_items["copied"], training_text) == ngram_overlap(test_items["reformatted"], training_text) > 0
assert ngram_overlap(test_items["paraphrased"], training_text, 8) == 0
assert ngram_overlap(test_items["new"], training_text) == 0
# --8<-- [end:overlap]
