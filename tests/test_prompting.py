"""genai_guide.prompting against references: Counter, Python's arithmetic, exhaustive search, transformers.

The loops run against deterministic stand-ins (`ScriptedModel`) and a tiny random GPT-2; their
plumbing (prompts, parsing, stop strings, tool calls) is checked exactly.
"""

from __future__ import annotations

import itertools
import math
import operator
import random
import re
import string
from collections import Counter
from fractions import Fraction

import pytest
import torch

from genai_guide.prompting import (
    COT_EXAMPLE,
    ChainStep,
    Game24State,
    KnowledgeTable,
    ReActStep,
    ScriptedModel,
    Tool,
    calculator,
    chain_of_thought_prompt,
    char_codec,
    chat_messages,
    cut_at_stop,
    extract_answer,
    few_shot_prompt,
    format_react_step,
    game24_next_states,
    game24_propose,
    game24_proposer,
    game24_search,
    game24_value,
    game24_valuer,
    instruction_prompt,
    majority_vote,
    one_shot_prompt,
    parse_react_step,
    react,
    run_chain,
    self_ask,
    self_consistency,
    solve24,
    transformers_generate,
    tree_of_thoughts,
    zero_shot_prompt,
)

# ---- prompt builders ----------------------------------------------------------------------------


def test_few_shot_prompt_is_brown_et_al_figure():
    examples = [("sea otter", "loutre de mer"), ("peppermint", "menthe poivrée"), ("plush girafe", "girafe peluche")]
    prompt = few_shot_prompt(examples, "cheese", instruction="Translate English to French:")
    assert prompt == ("Translate English to French:\nsea otter => loutre de mer\npeppermint => menthe poivrée\n"
                      "plush girafe => girafe peluche\ncheese =>")
    assert zero_shot_prompt("cheese", instruction="Translate English to French:") == "Translate English to French:\ncheese =>"
    assert one_shot_prompt(examples[0], "cheese") == "sea otter => loutre de mer\ncheese =>"


@pytest.mark.parametrize("seed", range(30))
def test_few_shot_prompt_equals_manual_join(seed):
    rng = random.Random(seed)
    word = lambda: "".join(rng.choice("abc xyz") for _ in range(rng.randint(1, 6)))
    examples = [(word(), word()) for _ in range(rng.randint(0, 5))]
    query, sep = word(), rng.choice(["\n", ";", "\n\n", ""])
    template = rng.choice(["{input} => {output}", "Input: {input}\nOutput: {output}", "{input}{output}"])
    expected = sep.join([template.format(input=x, output=y) for x, y in examples]
                        + [template.format(input=query, output="").rstrip(" ")])
    assert few_shot_prompt(examples, query, template=template, separator=sep) == expected


def test_instruction_prompt_and_chat_messages():
    prompt = instruction_prompt("Fix it.", role="You are an editor.", context="c", output_format="one line",
                                input_text="Teh")
    assert prompt == "You are an editor.\nInstruction: Fix it.\nContext: c\nOutput format: one line\nInput: Teh\nOutput:"
    assert instruction_prompt("Fix it.") == "Instruction: Fix it.\nOutput:"
    messages = chat_messages("sys", "q2", examples=[("q1", "a1")])
    assert messages == [{"role": "system", "content": "sys"}, {"role": "user", "content": "q1"},
                        {"role": "assistant", "content": "a1"}, {"role": "user", "content": "q2"}]
    assert chat_messages(None, "q") == [{"role": "user", "content": "q"}]


def test_chain_of_thought_prompts():
    few = chain_of_thought_prompt("How many?", [COT_EXAMPLE])
    assert few == f"Q: {COT_EXAMPLE[0]}\nA: {COT_EXAMPLE[1]}\n\nQ: How many?\nA:"
    assert chain_of_thought_prompt("How many?", trigger="Let's think step by step.") == \
        "Q: How many?\nA: Let's think step by step."


@pytest.mark.parametrize("text,answer", [
    ("5 + 6 = 11. The answer is 11.", "11"),
    ("So the answer is $1,250.", "1250"),
    ("The answer is: Paris\nMore text.", "Paris"),
    ("First the answer is 3. Then, checking again, the answer is 4.", "4"),
    ("I do not know.", None),
    ("The answer is .", None),
])
def test_extract_answer(text, answer):
    assert extract_answer(text) == answer


# ---- the scripted model -------------------------------------------------------------------------


def test_scripted_model_latest_match_wins_and_cycles():
    model = ScriptedModel({"A": "first", "B": ["b1", "b2"], "AB": "tie-loses"})
    assert model("xxA") == "first"
    assert model("A then B") == "b1"
    assert model("B then A") == "first"
    assert model("AB") == "b2"  # "B" and "AB" end at the same place: the earlier rule wins; next reply
    assert model("B") == "b1"  # the list of replies starts again
    assert len(model.calls) == 5 and model.calls[0] == "xxA"
    assert ScriptedModel({"A": "a"}, default="?")("zzz") == "?"
    with pytest.raises(ValueError, match="prompt"):
        ScriptedModel({"A": "a"})("zzz")


# ---- self-consistency ---------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(200))
def test_majority_vote_equals_counter(seed):
    rng = random.Random(seed)
    answers = [rng.choice(["1", "2", "3", "4", None]) for _ in range(rng.randint(0, 12))]
    counted = Counter(a for a in answers if a is not None).most_common(1)
    assert majority_vote(answers) == (counted[0] if counted else (None, 0))


def test_self_consistency_votes_over_samples():
    model = ScriptedModel({"Q:": ["The answer is 3.", "no idea", "The answer is 4.", "The answer is 4."]})
    result = self_consistency(model, "Q: x\nA:", n_samples=4)
    assert result.answers == ["3", None, "4", "4"] and (result.answer, result.votes) == ("4", 2)
    assert len(model.calls) == 4


# ---- prompt chaining ----------------------------------------------------------------------------


def test_run_chain_equals_manual_composition():
    model = ScriptedModel({"Summarise:": " short ", "Title for:": " TITLE"})
    steps = [ChainStep("summary", "Summarise: {text}"), ChainStep("title", "Title for: {summary} ({text})")]
    values = run_chain(model, steps, {"text": "long text"})
    summary = model("Summarise: long text").strip()
    assert values == {"text": "long text", "summary": summary, "title": model(f"Title for: {summary} (long text)").strip()}


def test_run_chain_checks_templates_before_calling():
    model = ScriptedModel({"x": "y"})
    with pytest.raises(ValueError, match="missing"):
        run_chain(model, [ChainStep("a", "{text}"), ChainStep("b", "{missing}")], {"text": "x"})
    assert model.calls == []
    with pytest.raises(ValueError, match="already used"):
        run_chain(model, [ChainStep("text", "{text}")], {"text": "x"})


# ---- tools --------------------------------------------------------------------------------------


def random_expression(rng: random.Random, depth: int = 0) -> str:
    if depth > 3 or rng.random() < 0.3:
        return str(rng.choice([rng.randint(0, 20), round(rng.uniform(0, 10), 2)]))
    if rng.random() < 0.15:
        return f"-{random_expression(rng, depth + 1)}"
    op = rng.choice(["+", "-", "*", "/", "//", "%", "**"])
    left, right = random_expression(rng, depth + 1), random_expression(rng, depth + 1)
    if op == "**":
        right = str(rng.randint(0, 3))
    return f"({left} {op} {right})"


@pytest.mark.parametrize("seed", range(300))
def test_calculator_equals_python_arithmetic(seed):
    expression = random_expression(random.Random(seed))
    try:
        expected = eval(expression)  # the reference, on an expression we generated ourselves
    except ZeroDivisionError:
        with pytest.raises(ZeroDivisionError):
            calculator(expression)
        return
    got = calculator(expression)
    assert got == expected or (math.isnan(got) and math.isnan(expected)), expression
    assert type(got) is type(expected)


@pytest.mark.parametrize("expression", ["__import__('os').getcwd()", "x + 1", "abs(-3)", "(1).real", "[1, 2]",
                                        "True + 1", "2 ** 2000", "1 if 1 else 2", "'a' * 3", "1; 2", "", "1 +"])
def test_calculator_refuses_what_is_not_arithmetic(expression):
    with pytest.raises(ValueError, match="expression"):
        calculator(expression)


def test_knowledge_table_search():
    entries = {"Eiffel Tower": "A tower in Paris.", "Paris": "A city on the Seine.", "Seine": "A river."}
    table = KnowledgeTable(entries)
    for title, passage in entries.items():  # exact titles: the same as a dict lookup
        assert table.search(title.upper() + "  ") == passage
    assert table.search("Where is the Eiffel Tower?") == "A tower in Paris."  # the longest title inside
    assert table.search("Tower of London") == "Could not find 'Tower of London'. Similar: ['Eiffel Tower']."
    with pytest.raises(ValueError, match="case"):
        KnowledgeTable({"Paris": "a", "paris": "b"})


# ---- ReAct --------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(100))
def test_react_step_format_parse_round_trip(seed):
    rng = random.Random(seed)
    text = lambda chars: "".join(rng.choice(chars) for _ in range(rng.randint(1, 30))).strip() or "x"
    step = ReActStep(
        thought=text(string.ascii_letters + " .,:[]()?"),
        action=text(string.ascii_letters + "_"),
        action_input=text(string.ascii_letters + " 0123456789+-*/()[]"),
        observation=rng.choice([None, text(string.printable[:94] + " ")]),
    )
    assert parse_react_step(format_react_step(step)) == step


@pytest.mark.parametrize("text", ["Action: Search[x]", "Thought: no action", "Thought: t\nAction: Search x",
                                  "Thought: t\nAction: [x]"])
def test_parse_react_step_rejects_malformed_text(text):
    with pytest.raises(ValueError, match="text"):
        parse_react_step(text)


TOOLS = [Tool("Search", "looks up an entity.", KnowledgeTable({"Eiffel Tower": "Completed in 1889."}).search),
         Tool("Calculate", "does arithmetic.", calculator)]


def test_react_runs_tools_and_cuts_made_up_observations():
    model = ScriptedModel({
        "Question: When?\n": " look it up\nAction: Search[Eiffel Tower]\nObservation: 1900",
        "Completed in 1889.\n": " compute\nAction: Calculate[1889 + 1]",
        "Observation: 1890\n": " done\nAction: Finish[1890]",
    })
    result = react(model, "When?", TOOLS)
    assert result.answer == "1890"
    assert [(s.action, s.action_input, s.observation) for s in result.steps] == [
        ("Search", "Eiffel Tower", "Completed in 1889."), ("Calculate", "1889 + 1", "1890"), ("Finish", "1890", None)]
    assert "1900" not in result.transcript and all(c.endswith("Thought:") for c in model.calls)
    assert result.transcript == model.calls[-1][: -len("Thought:")] + "Thought: done\nAction: Finish[1890]\n"


def test_react_reports_errors_as_observations():
    model = ScriptedModel({
        "Question: Q\n": " hmm\nAction: Fly[home]",
        "Use one of": " try\nAction: Calculate[1 / 0]",
        "ZeroDivisionError": "no action here",
        "Invalid step": " give up\nAction: Finish[unknown]",
    })
    result = react(model, "Q", TOOLS)
    observations = [s.observation for s in result.steps]
    assert observations[0] == "Unknown action 'Fly'. Use one of ['Search', 'Calculate', 'Finish']."
    assert observations[1] == "Error: ZeroDivisionError: division by zero"
    assert observations[2].startswith("Invalid step") and result.steps[2].action == ""
    assert result.answer == "unknown"


def test_react_stops_after_max_steps():
    model = ScriptedModel({"Question": " again\nAction: Search[nothing]"})
    result = react(model, "Q", TOOLS, max_steps=3)
    assert result.answer is None and len(result.steps) == 3 == len(model.calls)


# ---- self-ask -----------------------------------------------------------------------------------


def test_self_ask_answers_follow_ups_in_order():
    model = ScriptedModel({
        "needed here:": " Yes.\nFollow up: Where is the tower?\nIntermediate answer: Rome",
        "Intermediate answer: Paris\n": "Follow up: Which river is in Paris?",
        "Intermediate answer: the Seine\n": "So the final answer is: the Seine",
    })
    facts = {"Where is the tower?": "Paris", "Which river is in Paris?": "the Seine"}
    result = self_ask(model, "Which river?", answer_follow_up=facts.__getitem__, examples="")
    assert result.hops == list(facts.items()) and result.answer == "the Seine"
    assert "Rome" not in result.transcript  # the made-up intermediate answer was cut
    assert self_ask(model, "Which river?", answer_follow_up=facts.__getitem__, max_hops=1).answer is None


# ---- tree of thoughts ---------------------------------------------------------------------------


def brute_force_24(numbers: tuple[int, ...]) -> bool:
    """Independent reference: every order of the numbers, every operator, every bracketing of four."""
    ops = [operator.add, operator.sub, operator.mul, lambda a, b: a / b if b else None]

    def combine(a, b, op):
        return None if a is None or b is None else op(a, b)

    for a, b, c, d in itertools.permutations(Fraction(n) for n in numbers):
        for f, g, h in itertools.product(ops, repeat=3):
            shapes = [combine(combine(combine(a, b, f), c, g), d, h), combine(combine(a, combine(b, c, f), g), d, h),
                      combine(combine(a, b, f), combine(c, d, g), h), combine(a, combine(combine(b, c, f), d, g), h),
                      combine(a, combine(b, combine(c, d, f), g), h)]
            if any(x == 24 for x in shapes):
                return True
    return False


def exact_value(expression: str) -> Fraction:
    return eval(re.sub(r"(\d+)", r"Fraction(\1)", expression), {"Fraction": Fraction})


PUZZLES = sorted(set(itertools.combinations_with_replacement(range(1, 14), 4)))


@pytest.mark.parametrize("seed", range(6))
def test_solve24_equals_brute_force(seed):
    for numbers in random.Random(seed).sample(PUZZLES, 25):
        expression = solve24(numbers)
        assert (expression is not None) == brute_force_24(numbers), numbers
        if expression is not None:
            assert exact_value(expression) == 24
            assert sorted(int(n) for n in re.findall(r"\d+", expression)) == sorted(numbers)


@pytest.mark.parametrize("numbers", [(4, 9, 10, 13), (1, 1, 4, 6), (1, 1, 1, 1), (3, 3, 8, 8), (1, 2, 3, 4),
                                     (5, 5, 5, 1), (2, 7, 7, 13)])
def test_tree_of_thoughts_without_pruning_equals_exhaustive_search(numbers):
    result = game24_search(numbers, beam_width=None)
    assert (result.solution is not None) == (solve24(numbers) is not None) == brute_force_24(numbers)
    if result.solution is not None:
        assert exact_value(result.solution.expression) == 24


@pytest.mark.parametrize("seed", range(3))
def test_tree_of_thoughts_with_a_beam_finds_only_true_solutions(seed):
    for numbers in random.Random(seed).sample(PUZZLES, 20):
        for b in (1, 3):
            result = game24_search(numbers, beam_width=b)
            if result.solution is not None:
                assert exact_value(result.solution.expression) == 24 and result.solution.solved
                assert solve24(numbers) is not None
            assert all(len(f) <= b for f in result.frontiers)


@pytest.mark.parametrize("seed", range(40))
def test_generic_tree_of_thoughts_equals_breadth_first_search(seed):
    rng = random.Random(seed)
    target, depth = rng.randint(2, 60), rng.randint(1, 6)
    propose = lambda n: [n + 1, n * 2, n * 3]
    reachable = {1}
    found_at = None
    for level in range(1, depth + 1):  # reference: plain breadth-first search
        reachable = {m for n in reachable for m in propose(n)}
        if target in reachable:
            found_at = level
            break
    result = tree_of_thoughts(1, propose, lambda n: -abs(target - n), lambda n: n == target,
                              beam_width=None, max_depth=depth)
    assert (result.solution, result.depth if result.solution is not None else None) == (
        (target, found_at) if found_at else (None, None))


def test_game24_state_steps_and_judges():
    start = Game24State.start([4, 9, 10, 13])
    states = game24_next_states(start)
    assert len({s.numbers for s in states}) == len(states)
    for s in states:  # every step line is true arithmetic
        m = re.match(r"(\S+) (\S) (\S+) = (\S+) \(left: (.*)\)", s.history[-1])
        assert exact_value(f"({m[1]}) {m[2]} ({m[3]})") == Fraction(m[4])
        assert sorted(Fraction(x) for x in m[5].split()) == list(s.numbers)
    assert len(game24_proposer("Input: 4 9 10 13\nPossible next steps:\n").splitlines()) == len(states)
    for a, b in itertools.product(range(1, 14), repeat=2):  # on two numbers the judge is exact
        assert (game24_valuer(f"Numbers: {a} {b}") == "sure") == brute_force_24_two(a, b)
    value = game24_value(lambda prompt: "hmm... impossible")
    assert value(start) == 0.001


def brute_force_24_two(a: int, b: int) -> bool:
    a, b = Fraction(a), Fraction(b)
    return 24 in {a + b, a - b, b - a, a * b, a / b, b / a}


def test_game24_propose_drops_wrong_proposals():
    start = Game24State.start([4, 9, 10, 13])
    reply = ("4 + 9 = 14 (left: 10 13 14)\n13 - 9 = 4 (left: 4 4 10)\n2 * 2 = 4 (left: 4 10 13)\n"
             "13 - 9 = 4 (left: 4 10 13)\nnot a step\n10 / 4 = 5/2 (left: 5/2 9 13)")
    kept = game24_propose(lambda prompt: reply)(start)
    assert [s.history[-1] for s in kept] == ["13 - 9 = 4 (left: 4 4 10)", "10 / 4 = 5/2 (left: 5/2 9 13)"]


# ---- a transformers model as a Generate ---------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_gpt2():
    transformers = pytest.importorskip("transformers")
    transformers.logging.set_verbosity_error()
    from genai_guide.gpt import GPT, GPTConfig

    alphabet = string.printable[:95] + "\n"
    torch.manual_seed(0)
    ours = GPT(GPTConfig(vocab_size=len(alphabet), context_length=64, d_model=32, n_layers=2, n_heads=2)).eval()
    return ours, ours.to_gpt2(), char_codec(alphabet)


@pytest.mark.parametrize("seed", range(5))
def test_transformers_generate_equals_book_greedy_loop(tiny_gpt2, seed):
    from genai_guide.gpt import generate_greedy

    ours, model, (encode, decode) = tiny_gpt2
    rng = random.Random(seed)
    prompt = "".join(rng.choice(string.ascii_letters + " \n") for _ in range(rng.randint(1, 80)))
    generate = transformers_generate(model, encode, decode, max_new_tokens=12)
    ids = torch.tensor([encode(prompt)[-(64 - 12):]])  # cropped to the context, as the wrapper does
    assert generate(prompt) == decode(generate_greedy(ours, ids, 12)[0, ids.shape[1]:].tolist())


def test_transformers_generate_samples_like_generate(tiny_gpt2):
    _, model, (encode, decode) = tiny_gpt2
    sampler = transformers_generate(model, encode, decode, max_new_tokens=10, do_sample=True, temperature=0.7)
    torch.manual_seed(3)
    text = sampler("Thought:")
    torch.manual_seed(3)
    ids = torch.tensor([encode("Thought:")])
    out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=10, do_sample=True, temperature=0.7,
                         top_k=0, top_p=1.0, pad_token_id=0)
    assert text == decode(out[0, ids.shape[1]:].tolist())


def test_react_loop_runs_on_a_real_model(tiny_gpt2):
    _, model, (encode, decode) = tiny_gpt2
    generate = transformers_generate(model, encode, decode, max_new_tokens=8)
    calls = []
    result = react(lambda p: calls.append(p) or generate(p), "When?", TOOLS, max_steps=2)
    assert len(calls) == 2 and all(c.startswith("Answer the question") and c.endswith("Thought:") for c in calls)
    assert result.answer is None and len(result.steps) == 2


def test_char_codec_round_trip():
    encode, decode = char_codec("ab?")
    assert encode("abz") == [0, 1, 2] and decode([0, 1, 2]) == "ab?"


# ---- cut_at_stop --------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(100))
def test_cut_at_stop_equals_earliest_split(seed):
    rng = random.Random(seed)
    text = "".join(rng.choice("ab\n:") for _ in range(rng.randint(0, 20)))
    stops = ["".join(rng.choice("ab\n:") for _ in range(rng.randint(1, 3))) for _ in range(rng.randint(0, 3))]
    expected = min((text.split(s)[0] for s in stops), key=len, default=text)
    assert cut_at_stop(text, stops) == expected


# ---- bad input ----------------------------------------------------------------------------------

MODEL = ScriptedModel({"x": "y"})


@pytest.mark.parametrize("call,error,argument", [
    (lambda: few_shot_prompt("ab", "q"), TypeError, "examples"),
    (lambda: few_shot_prompt([("a", 1)], "q"), TypeError, "examples"),
    (lambda: few_shot_prompt([], "q", template="{input}"), ValueError, "template"),
    (lambda: few_shot_prompt([], "q", template="{output} <- {input}"), ValueError, "template"),
    (lambda: few_shot_prompt([], 3), TypeError, "query"),
    (lambda: instruction_prompt("  "), ValueError, "instruction"),
    (lambda: instruction_prompt("do", role=3), TypeError, "role"),
    (lambda: chain_of_thought_prompt(None), TypeError, "question"),
    (lambda: majority_vote("abc"), TypeError, "answers"),
    (lambda: self_consistency(MODEL, "x", 0), ValueError, "n_samples"),
    (lambda: self_consistency("model", "x", 2), TypeError, "generate"),
    (lambda: self_consistency(lambda p: 3, "x", 1), TypeError, "generate must return a str"),
    (lambda: run_chain(MODEL, [], {}), ValueError, "steps"),
    (lambda: run_chain(MODEL, [ChainStep("a", "x")], {"k": 1}), TypeError, "inputs"),
    (lambda: calculator(12), TypeError, "expression"),
    (lambda: calculator("1" * 201), ValueError, "expression"),
    (lambda: KnowledgeTable({}), ValueError, "entries"),
    (lambda: KnowledgeTable({"a": 1}), TypeError, "entries"),
    (lambda: parse_react_step(None), TypeError, "text"),
    (lambda: react(MODEL, "q", TOOLS, max_steps=0), ValueError, "max_steps"),
    (lambda: react(MODEL, "q", {"Search": TOOLS[0]}), TypeError, "tools"),
    (lambda: react(MODEL, "q", [Tool("Finish", "", str)]), ValueError, "tools"),
    (lambda: self_ask(MODEL, "q", answer_follow_up=None), TypeError, "answer_follow_up"),
    (lambda: self_ask(MODEL, "q", str, max_hops=-1), ValueError, "max_hops"),
    (lambda: tree_of_thoughts(1, None, abs, bool, beam_width=1, max_depth=1), TypeError, "propose"),
    (lambda: tree_of_thoughts(1, list, abs, bool, beam_width=0, max_depth=1), ValueError, "beam_width"),
    (lambda: tree_of_thoughts(1, list, abs, bool, beam_width=1, max_depth=0), ValueError, "max_depth"),
    (lambda: Game24State.start([1, 2.5]), TypeError, "numbers"),
    (lambda: Game24State.start([]), ValueError, "numbers"),
    (lambda: Game24State.start([1, 2]).expression, ValueError, "numbers left"),
    (lambda: game24_proposer("no input line"), ValueError, "prompt"),
    (lambda: ScriptedModel({"": "a"}), ValueError, "rules"),
    (lambda: ScriptedModel({"a": []}), ValueError, "rules"),
    (lambda: ScriptedModel({"a": 3}), TypeError, "rules"),
    (lambda: cut_at_stop("abc", "b"), TypeError, "stop"),
    (lambda: cut_at_stop("abc", [""]), ValueError, "stop"),
    (lambda: char_codec("aab"), ValueError, "alphabet"),
    (lambda: char_codec("ab", unknown="?"), ValueError, "unknown"),
    (lambda: transformers_generate(object(), list, str), TypeError, "model"),
])
def test_bad_input_is_rejected(call, error, argument):
    with pytest.raises(error, match=argument):
        call()


def test_transformers_generate_rejects_bad_settings(tiny_gpt2):
    _, model, (encode, decode) = tiny_gpt2
    with pytest.raises(ValueError, match="max_new_tokens"):
        transformers_generate(model, encode, decode, max_new_tokens=64)
    with pytest.raises(ValueError, match="temperature"):
        transformers_generate(model, encode, decode, do_sample=True, temperature=0)
    with pytest.raises(TypeError, match="do_sample"):
        transformers_generate(model, encode, decode, do_sample="yes")
