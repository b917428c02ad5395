"""ROUGE-L on the worked examples of Lin (2004), then the Self-Instruct filter loop run with a
deterministic STAND-IN for the language model (no model is called): the pipeline is real, the
"generations" are recombinations written in code."""

# --8<-- [start:rouge]
import random

from genai_guide.sft import lcs_length, rouge_l, rouge_tokenize, self_instruct

reference = "police killed the gunman"  # Lin (2004), section 3.1
for candidate in ["police kill the gunman", "the gunman kill police", "the gunman police killed"]:
    score = rouge_l(candidate, reference)
    lcs = lcs_length(rouge_tokenize(reference), rouge_tokenize(candidate))
    print(f"{candidate!r:28} LCS {lcs}  P {score.precision:.2f}  R {score.recall:.2f}  F {score.fmeasure:.2f}")
# --8<-- [end:rouge]

# --8<-- [start:pipeline]
seeds = [  # hand-written seed tasks (Self-Instruct starts from 175)
    "Give three tips for staying healthy.", "Translate the sentence into French.",
    "Write a short poem about the sea.", "Summarize the paragraph in one sentence.",
    "List five animals that live in the ocean.", "Explain why the sky is blue.",
    "Suggest a title for a story about a lighthouse.", "Classify the review as positive or negative.",
]
VERBS = ["Explain", "Summarize", "List the steps of", "Describe", "Compare two views on"]
TOPICS = ["how tides work", "the life of a lighthouse keeper", "saving water at home", "why bread rises",
          "the rules of chess"]


def stand_in_model(prompt_instructions: list[str]) -> list[str]:
    """STAND-IN for the LM: deterministic 'new' instructions derived from the prompt it is shown."""
    k = sum(len(p) for p in prompt_instructions)  # varies with the sampled prompt
    return [
        prompt_instructions[0].rstrip(".") + " in simple words.",  # a near-copy of what it was shown
        f"{VERBS[k % 5]} {TOPICS[(k // 5) % 5]}.",  # a new combination (or a repeat of an earlier one)
        f"Describe the image of {TOPICS[k % 5]}.",  # something a text-only model cannot do
    ]


result = self_instruct(seeds, stand_in_model, rounds=4, rng=random.Random(0), threshold=0.7)
for instruction, kept, reason, score, similar in result.log:
    if reason in ("kept", "near-duplicate"):  # the ROUGE-L check ran: report the closest instruction
        reason += f", ROUGE-L {score:.2f} with {similar!r}" if score > 0 else ", no word in common with the pool"
    print(f"{'KEEP' if kept else 'drop'}  {instruction!r}: {reason}")
print(f"pool: {len(seeds)} seeds + {len(result.pool)} new instructions")
# --8<-- [end:pipeline]
