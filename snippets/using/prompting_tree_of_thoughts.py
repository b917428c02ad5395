"""Tree of thoughts on the Game of 24: propose steps, judge them, keep the best few, and check the answer."""

# --8<-- [start:parts]
import re

from genai_guide.prompting import (
    Game24State,
    calculator,
    game24_propose,
    game24_proposer,
    game24_search,
    game24_value,
    game24_valuer,
    solve24,
)

start = Game24State.start([4, 9, 10, 13])
proposals = game24_proposer(f"Input: {start.left()}\nPossible next steps:\n").splitlines()
print(f"{len(proposals)} proposed steps, for example:", proposals[:3])
judge = game24_value(game24_valuer)
for numbers in ([4, 4, 10], [10, 13, 13], [4, 6], [1, 2, 3]):
    print(f"value of {numbers}: {judge(Game24State.start(numbers))}")

# A model's proposals go through a check: wrong arithmetic is dropped, not searched.
sloppy = lambda prompt: "4 + 9 = 14 (left: 10 13 14)\n13 - 9 = 4 (left: 4 4 10)"  # the first line is wrong
print("kept:", [s.history[-1] for s in game24_propose(sloppy)(start)])
# --8<-- [end:parts]

# --8<-- [start:search]
result = game24_search([4, 9, 10, 13], beam_width=5)
expression = result.solution.expression
print("steps:", list(result.solution.history))
print(f"{expression} = {calculator(expression)}; states judged: {result.evaluated}")
assert calculator(expression) == 24 and sorted(int(n) for n in re.findall(r"\d+", expression)) == [4, 9, 10, 13]
print("exhaustive search finds:", solve24([4, 9, 10, 13]))

import itertools
import random

puzzles = sorted(set(itertools.combinations_with_replacement(range(1, 14), 4)))
sample = random.Random(0).sample(puzzles, 100)
solvable = [p for p in sample if solve24(p) is not None]  # the reference: exhaustive search
print(f"{len(solvable)} of 100 random puzzles can be solved")
for b in (1, 5, 20):
    runs = [game24_search(p, beam_width=b) for p in solvable]
    assert all(calculator(r.solution.expression) == 24 for r in runs if r.solution is not None)
    found = sum(r.solution is not None for r in runs)
    print(f"beam width {b}: solves {found} of {len(solvable)}, judging {sum(r.evaluated for r in runs) / len(runs):.0f} states each")
# --8<-- [end:search]
