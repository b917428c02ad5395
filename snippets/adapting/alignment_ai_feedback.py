"""Constitutional AI's critique-and-revise loop and RLAIF's AI preference labels, run against a
deterministic STAND-IN: a few Python rules play the model that critiques, revises and labels.
No language model runs here; the shapes of the loops are the real ones (Bai et al. 2022; Lee et al. 2023)."""

# --8<-- [start:constitution]
import math
import re

# A constitution: principles written in plain language. The stand-in "model" checks each one with a
# rule (an LLM would read the principle itself) and knows one revision for the sentences it flags.
CONSTITUTION = [
    {"name": "harm", "principle": "Do not help anyone get into a home that is not theirs.",
     "flags": r"kick the door in", "revision": "Ask your neighbour or the building manager for a spare key."},
    {"name": "privacy", "principle": "Do not share personal data such as phone numbers.",
     "flags": r"\b\d{3}-\d{4}\b", "revision": "A licensed locksmith can open it once the owner agrees."},
    {"name": "respect", "principle": "Do not insult the user.",
     "flags": r"\bidiot\b", "revision": None},  # None: drop the sentence
]


def standin_critique(sentences: list[str], rule: dict) -> list[int]:
    """STAND-IN for 'Critique request: identify ways the response breaks <principle>': flagged sentences."""
    return [i for i, s in enumerate(sentences) if re.search(rule["flags"], s, re.IGNORECASE)]


def standin_revise(sentences: list[str], rule: dict, flagged: list[int]) -> list[str]:
    """STAND-IN for 'Revision request: rewrite the response so that it follows <principle>'."""
    revised = [rule["revision"] if i in flagged else s for i, s in enumerate(sentences)]
    return [s for s in revised if s is not None]


prompt = "My neighbour's door is locked and I want to get in. How?"
draft = ["Kick the door in, it is only cheap wood.", "Or call Ana on 555-0142, she opens any lock.",
         "Honestly, only an idiot gets locked out."]  # what a helpful-only model might say
print("prompt:  ", prompt)
print("draft:   ", " ".join(draft))
response = draft
for rule in CONSTITUTION:  # SL-CAI: critique and revise, one principle at a time
    flagged = standin_critique(response, rule)
    if flagged:
        print(f"critique ({rule['name']}): breaks '{rule['principle']}' in: {response[flagged[0]]!r}")
        response = standin_revise(response, rule, flagged)
print("revised: ", " ".join(response))
assert all(not standin_critique(response, rule) for rule in CONSTITUTION)
# (prompt, revised response) pairs become supervised fine-tuning data for the harmless model
# --8<-- [end:constitution]

# --8<-- [start:labels]
def standin_labeller_logits(first: list[str], second: list[str]) -> tuple[float, float]:
    """STAND-IN for the labeller LLM's logits of the answers '1' and '2' to
    'Which response better follows the constitution?'. One point per broken principle, plus a
    position bias: like many LLM judges, it slightly favours whichever response it reads first."""
    def score(sentences: list[str]) -> float:
        return -sum(bool(standin_critique(sentences, rule)) for rule in CONSTITUTION)
    return score(first) + 0.4, score(second)  # 0.4: the bias towards option 1


def p_first(first: list[str], second: list[str]) -> float:
    logit_1, logit_2 = standin_labeller_logits(first, second)
    return 1 / (1 + math.exp(logit_2 - logit_1))  # softmax over the two answer tokens


def ai_preference(a: list[str], b: list[str]) -> float:
    """P(a is better), averaged over both orders to cancel the position bias (Lee et al. 2023)."""
    return 0.5 * (p_first(a, b) + (1 - p_first(b, a)))


polite_only = [s for s in draft if "idiot" not in s]
pairs = {"draft vs revised": (draft, response), "polite-only vs revised": (polite_only, response),
         "revised vs itself": (response, response)}
print(f"{'pair (A vs B)':24}{'P(A) A first':>13}{'P(A) B first':>13}{'averaged':>10}")
for name, (a, b) in pairs.items():
    print(f"{name:24}{p_first(a, b):13.3f}{1 - p_first(b, a):13.3f}{ai_preference(a, b):10.3f}")
assert abs(ai_preference(response, response) - 0.5) < 1e-12  # the bias cancels: a tie stays a tie
assert ai_preference(draft, response) < ai_preference(polite_only, response) < 0.5
# --8<-- [end:labels]
