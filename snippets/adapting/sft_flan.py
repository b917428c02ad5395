"""FLAN-style instruction tuning data: three small tasks made in code, several instruction templates
per task (one of them turning the task around), and an examples-proportional mixture with a cap."""

# --8<-- [start:tasks]
import random
from collections import Counter

from genai_guide.sft import examples_proportional_rates, format_with_templates, mix_tasks

rng = random.Random(0)
# Three "datasets": 100 sums, 12 antonym pairs, 40 one-sentence reviews.
sums = [{"a": a, "b": b, "s": a + b} for a in range(10) for b in range(10)]
pairs = [("hot", "cold"), ("big", "small"), ("up", "down"), ("day", "night"), ("fast", "slow"), ("old", "new"),
         ("dark", "light"), ("wet", "dry"), ("early", "late"), ("full", "empty"), ("open", "closed"), ("loud", "quiet")]
antonyms = [{"word": w, "opposite": o} for w, o in pairs]
things, good, bad = ["soup", "film", "hotel", "book", "concert"], ["superb", "lovely", "great", "charming"], \
    ["awful", "dull", "terrible", "noisy"]
reviews = [{"thing": t, "review": f"The {t} was {adj}.", "label": label}
           for t in things for label, words in (("positive", good), ("negative", bad)) for adj in words]

# Each task gets instruction templates: (prompt, completion), filled from the example's fields.
# The last template of each task "turns the task around", as FLAN's templates do.
templates = {
    "sums": [("What is {a} plus {b}?", "{s}"), ("Add {a} and {b}.", "{s}"), ("{a} + {b} =", "{s}"),
             ("Give two digits that add up to {s}.", "{a} and {b}")],
    "antonyms": [("What is the opposite of {word}?", "{opposite}"), ('Give an antonym of "{word}".', "{opposite}"),
                 ("{opposite} is the opposite of which word?", "{word}")],
    "reviews": [("{review}\nIs this review positive or negative?\nOPTIONS:\n- positive\n- negative", "{label}"),
                ("Review: {review}\nSentiment:", "{label}"), ("Write a {label} review of a {thing}.", "{review}")],
}
tasks = {"sums": sums, "antonyms": antonyms, "reviews": reviews}
instructions = {name: format_with_templates(data, templates[name], rng) for name, data in tasks.items()}
for name in tasks:
    example = instructions[name][0]
    print(f"{name} (template {example['template']}): {example['prompt']!r} -> {example['completion']!r}")
# --8<-- [end:tasks]

# --8<-- [start:mix]
sizes = {name: len(data) for name, data in tasks.items()}
for label, cap in (("no cap", 10**9), ("cap K=30", 30)):  # with the cap, large tasks cannot dominate
    rates = examples_proportional_rates(sizes, cap=cap)
    print(f"{label:<8}: " + ", ".join(f"{name} {rate:.2f}" for name, rate in rates.items()))
mixture = mix_tasks(instructions, rates, n=1000, rng=rng)
print("1,000 draws:", dict(Counter(name for name, _ in mixture)))
for name, example in mixture[:4]:
    print(f"  [{name}] {example['prompt']!r} -> {example['completion']!r}")
# --8<-- [end:mix]
