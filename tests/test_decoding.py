"""genai_guide.decoding against transformers.

- Each logits function equals the transformers logits processor it mirrors (TemperatureLogitsWarper,
  TopKLogitsWarper, TopPLogitsWarper, RepetitionPenaltyLogitsProcessor) exactly (torch.equal), on
  random logits, logits with many ties, -inf entries, every min_tokens_to_keep and filter value.
- sample_next_token draws what torch.multinomial draws from the same seeded generator.
- greedy_search, sample and beam_search give the same tokens as GPT2LMHeadModel.generate on tiny
  random models (exactly), and beam_search the same sequences_scores (within 1e-5).
- hits_stop_sequence agrees with transformers' StopStringCriteria, and greedy_search with
  stop_sequences stops where generate(stop_strings=...) stops.
- Bad input is rejected with an error naming the argument.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import transformers
from transformers import GPT2Config, GPT2LMHeadModel
from transformers.generation import (
    RepetitionPenaltyLogitsProcessor,
    StopStringCriteria,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from genai_guide.decoding import (
    apply_repetition_penalty,
    apply_temperature,
    beam_search,
    greedy_next_token,
    greedy_search,
    hits_stop_sequence,
    next_token_logits,
    process_logits,
    sample,
    sample_next_token,
    top_k_filter,
    top_p_filter,
    truncate_at_stop,
)
from genai_guide.gpt import GPT, GPTConfig, generate_greedy

transformers.logging.set_verbosity_error()

EOS, PAD = 1, 1
DUMMY_IDS = torch.zeros(1, 1, dtype=torch.long)  # the warpers ignore input_ids


def random_logits(kind: str, seed: int, batch: int = 4, vocab: int = 37) -> torch.Tensor:
    """Logits of several shapes of difficulty: spread out, full of ties, peaked, with -inf."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, vocab, generator=gen) * 3
    if kind == "ties":
        x = x.round()  # integers: many exact ties, including at the top-k and top-p boundaries
    elif kind == "peaked":
        x[:, 0] += 25  # one token holds almost all the probability
    elif kind == "neg_inf":
        x[:, ::3] = -math.inf  # already filtered tokens
    elif kind == "uniform":
        x = torch.zeros(batch, vocab)
    return x


KINDS = ["normal", "ties", "peaked", "neg_inf", "uniform"]


# ---- the logits functions against the transformers processors -----------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_temperature_equals_transformers(kind):
    x = random_logits(kind, seed=1)
    for temperature in (0.05, 0.5, 1.0, 1.7, 10.0):
        assert torch.equal(apply_temperature(x, temperature), TemperatureLogitsWarper(temperature)(DUMMY_IDS, x))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("filter_value", [-math.inf, -1e4, 0.0])
def test_top_k_equals_transformers(kind, filter_value):
    x = random_logits(kind, seed=2)
    for top_k, min_keep in [(1, 1), (3, 1), (5, 8), (36, 1), (37, 1), (100, 2)]:
        ours = top_k_filter(x, top_k, filter_value=filter_value, min_tokens_to_keep=min_keep)
        theirs = TopKLogitsWarper(top_k, filter_value=filter_value, min_tokens_to_keep=min_keep)(DUMMY_IDS, x)
        assert torch.equal(ours, theirs), (top_k, min_keep)


def test_top_k_keeps_ties_with_the_kth_logit():
    x = torch.tensor([[3.0, 2.0, 2.0, 2.0, 1.0]])
    kept = top_k_filter(x, 2) > -math.inf
    assert kept.tolist() == [[True, True, True, True, False]]  # three tokens tie for 2nd place


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("min_keep", "filter_value"), [(1, -math.inf), (3, -math.inf), (1, -50.0)])
def test_top_p_equals_transformers(kind, min_keep, filter_value):
    x = random_logits(kind, seed=3)
    for top_p in (1e-6, 0.1, 0.5, 0.9, 0.95, 0.999, 1.0):
        ours = top_p_filter(x, top_p, filter_value=filter_value, min_tokens_to_keep=min_keep)
        theirs = TopPLogitsWarper(top_p, filter_value=filter_value, min_tokens_to_keep=min_keep)(DUMMY_IDS, x)
        assert torch.equal(ours, theirs), top_p


def test_top_p_keeps_the_smallest_nucleus():
    """probabilities 0.5, 0.3, 0.15, 0.05: p = 0.8 keeps two tokens, p = 0.81 and 0.9 keep three."""
    x = torch.tensor([[0.5, 0.3, 0.15, 0.05]]).log()
    assert (top_p_filter(x, 0.8) > -math.inf).sum() == 2
    assert (top_p_filter(x, 0.81) > -math.inf).sum() == 3
    assert (top_p_filter(x, 0.9) > -math.inf).sum() == 3
    assert (top_p_filter(x, 1e-9) > -math.inf).sum() == 1


@pytest.mark.parametrize("kind", ["normal", "ties", "peaked"])
def test_repetition_penalty_equals_transformers(kind):
    x = random_logits(kind, seed=4)
    gen = torch.Generator().manual_seed(5)
    previous = torch.randint(0, x.shape[1], (x.shape[0], 12), generator=gen)
    previous[:, :4] = previous[:, 4:8]  # repeated tokens are penalized once
    for penalty in (0.5, 1.0, 1.2, 3.0):
        ours = apply_repetition_penalty(x, previous, penalty)
        theirs = RepetitionPenaltyLogitsProcessor(penalty)(previous, x.clone())
        assert torch.equal(ours, theirs), penalty
        untouched = torch.ones_like(x, dtype=torch.bool).scatter(1, previous, False)
        assert torch.equal(ours[untouched], x[untouched])


def test_repetition_penalty_always_lowers_a_seen_token():
    x = torch.tensor([[2.0, -2.0, 0.5]])
    out = apply_repetition_penalty(x, torch.tensor([[0, 1]]), 2.0)
    assert out.tolist() == [[1.0, -4.0, 0.5]]


@pytest.mark.parametrize("seed", range(3))
def test_process_logits_equals_the_transformers_pipeline(seed):
    x = random_logits("normal", seed=seed)
    previous = torch.randint(0, x.shape[1], (x.shape[0], 6), generator=torch.Generator().manual_seed(seed))
    ours = process_logits(x, previous, temperature=0.7, top_k=10, top_p=0.8, repetition_penalty=1.3)
    theirs = x.clone()
    for proc in (RepetitionPenaltyLogitsProcessor(1.3), TemperatureLogitsWarper(0.7), TopKLogitsWarper(10),
                 TopPLogitsWarper(0.8)):
        theirs = proc(previous, theirs)
    assert torch.equal(ours, theirs)


@pytest.mark.parametrize("kind", ["normal", "ties", "neg_inf", "uniform"])
def test_sample_next_token_draws_what_multinomial_draws(kind):
    x = random_logits(kind, seed=6, batch=64)
    ours = torch.stack([sample_next_token(x, torch.Generator().manual_seed(s)) for s in range(20)])
    theirs = torch.stack([torch.multinomial(x.softmax(-1), 1, generator=torch.Generator().manual_seed(s)).squeeze(1)
                          for s in range(20)])
    assert torch.equal(ours, theirs)
    assert torch.isfinite(x.gather(1, ours.T)).all()  # a filtered token is never drawn


def test_greedy_next_token_is_the_argmax():
    x = random_logits("normal", seed=7)
    assert torch.equal(greedy_next_token(x), x.argmax(-1))


# ---- the generation loops against generate() ---------------------------------------------------


def tiny_gpt2(seed: int, vocab: int = 12, scale: float = 20.0) -> GPT2LMHeadModel:
    """A random one-block GPT-2. Scaled-up weights make the distributions peaked, so that the
    end-of-sequence token (id 1) is sometimes likely and sometimes not."""
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=vocab, n_positions=32, n_embd=16, n_layer=1, n_head=2,
                        bos_token_id=0, eos_token_id=EOS, pad_token_id=PAD)
    model = GPT2LMHeadModel(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.mul_(scale)
    return model


def prompts(seed: int, vocab: int = 12, batch: int = 2, length: int = 4) -> torch.Tensor:
    return torch.randint(2, vocab, (batch, length), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize("eos", [None, EOS])
def test_greedy_search_equals_generate(seed, eos):
    model, ids = tiny_gpt2(seed), prompts(seed, batch=3)
    for max_new in (1, 5, 12):
        theirs = model.generate(ids, do_sample=False, max_new_tokens=max_new, eos_token_id=eos, pad_token_id=PAD)
        assert torch.equal(greedy_search(model, ids, max_new, eos_token_id=eos, pad_token_id=PAD), theirs)


def test_greedy_search_finishes_rows_separately():
    """The check can fail: some rows stop at the end-of-sequence token and are padded, others go on."""
    finished_early = 0
    for seed in range(4):
        model, ids = tiny_gpt2(seed), prompts(seed, batch=3)
        # padding with 0, a token the prompts never hold (generate masks prompt tokens equal to the pad id)
        out = greedy_search(model, ids, 12, eos_token_id=EOS, pad_token_id=0)
        assert torch.equal(out, model.generate(ids, do_sample=False, max_new_tokens=12, eos_token_id=EOS, pad_token_id=0))
        finished_early += int(((out[:, 4:] == EOS).any(1) & (out[:, -1] == 0)).sum())
    assert finished_early > 0


@pytest.mark.parametrize("seed", range(3))
def test_greedy_search_with_repetition_penalty_equals_generate(seed):
    model, ids = tiny_gpt2(seed, vocab=30, scale=5.0), prompts(seed, vocab=30)
    theirs = model.generate(ids, do_sample=False, max_new_tokens=10, repetition_penalty=1.5, pad_token_id=PAD)
    ours = greedy_search(model, ids, 10, repetition_penalty=1.5, eos_token_id=EOS, pad_token_id=PAD)
    assert torch.equal(ours, theirs)


def test_greedy_search_runs_the_books_gpt_with_a_sliding_window():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=20, context_length=8, d_model=16, n_layers=1, n_heads=2)).eval()
    ids = torch.randint(0, 20, (2, 6))
    ours = greedy_search(model, ids, 15, context_length=8)
    assert torch.equal(ours, generate_greedy(model, ids, 15))
    with pytest.raises(ValueError, match="context_length"):
        greedy_search(model, ids, 15)  # without the window, the model refuses 9 tokens


SAMPLING = [
    {"temperature": 1.0, "top_k": None, "top_p": None},
    {"temperature": 0.7, "top_k": None, "top_p": None},
    {"temperature": 1.0, "top_k": 5, "top_p": None},
    {"temperature": 1.0, "top_k": None, "top_p": 0.8},
    {"temperature": 1.3, "top_k": 8, "top_p": 0.9, "repetition_penalty": 1.2},
]


@pytest.mark.parametrize("settings", SAMPLING, ids=lambda s: "-".join(f"{k}{v}" for k, v in s.items()))
def test_sample_equals_generate_with_the_same_seed(settings):
    seed = SAMPLING.index(settings)  # another model, prompt and draw for each setting
    model, ids = tiny_gpt2(seed, vocab=30, scale=3.0), prompts(seed, vocab=30, batch=3)
    hf = dict(settings, top_k=settings["top_k"] or 0)  # generate's default would be top_k=50
    torch.manual_seed(100 + seed)
    theirs = model.generate(ids, do_sample=True, max_new_tokens=12, eos_token_id=EOS, pad_token_id=PAD, **hf)
    torch.manual_seed(100 + seed)
    ours = sample(model, ids, 12, eos_token_id=EOS, pad_token_id=PAD, **settings)
    assert torch.equal(ours, theirs)
    gen = torch.Generator().manual_seed(7)  # a private generator gives reproducible draws
    again = sample(model, ids, 12, generator=torch.Generator().manual_seed(7), **settings)
    assert torch.equal(sample(model, ids, 12, generator=gen, **settings), again)


# Beam search: every early_stopping mode and several length penalties, beam widths and lengths.
BEAM_GRID = list(itertools.product([False, True, "never"], [1.0, 0.0, -0.7, 2.0]))


@pytest.mark.parametrize(("early_stopping", "length_penalty"), BEAM_GRID)
def test_beam_search_equals_generate(early_stopping, length_penalty):
    seed = BEAM_GRID.index((early_stopping, length_penalty))
    model, ids = tiny_gpt2(seed), prompts(seed)
    for num_beams, max_new in itertools.product([2, 5], [1, 7]):
        theirs = model.generate(ids, num_beams=num_beams, max_new_tokens=max_new, do_sample=False,
                                length_penalty=length_penalty, early_stopping=early_stopping, eos_token_id=EOS,
                                pad_token_id=PAD, num_return_sequences=num_beams, return_dict_in_generate=True,
                                output_scores=True)
        ours = beam_search(model, ids, num_beams, max_new, eos_token_id=EOS, pad_token_id=PAD,
                           length_penalty=length_penalty, early_stopping=early_stopping,
                           num_return_sequences=num_beams)
        assert torch.equal(ours.sequences, theirs.sequences), (num_beams, max_new)
        torch.testing.assert_close(ours.scores, theirs.sequences_scores, atol=1e-5, rtol=0)


@pytest.mark.parametrize("seed", range(3))
def test_beam_search_without_eos_and_one_return_sequence(seed):
    model, ids = tiny_gpt2(seed, vocab=40, scale=5.0), prompts(seed, vocab=40, batch=3)
    theirs = model.generate(ids, num_beams=4, max_new_tokens=6, do_sample=False, eos_token_id=None,
                            pad_token_id=PAD, return_dict_in_generate=True, output_scores=True)
    ours = beam_search(model, ids, 4, 6)
    assert torch.equal(ours.sequences, theirs.sequences)
    torch.testing.assert_close(ours.scores, theirs.sequences_scores, atol=1e-5, rtol=0)
    # without a length penalty the score is the summed log-probability of the generated tokens
    logp = torch.log_softmax(model(ours.sequences).logits[:, 3:-1].float(), -1)
    total = logp.gather(2, ours.sequences[:, 4:, None]).sum((1, 2)) / 6
    torch.testing.assert_close(ours.scores, total, atol=1e-5, rtol=0)


def test_beam_search_is_not_vacuous():
    """Across the seeds, beam search finds a more probable output than greedy, and some hypotheses end early."""
    differs, early = 0, 0
    for seed in range(3):
        model, ids = tiny_gpt2(seed), prompts(seed)
        beams = beam_search(model, ids, 3, 9, eos_token_id=EOS, pad_token_id=PAD, num_return_sequences=3)
        greedy = greedy_search(model, ids, 9, eos_token_id=EOS, pad_token_id=PAD)
        differs += int(not torch.equal(beams.sequences[::3, : greedy.shape[1]], greedy[:, : beams.sequences.shape[1]]))
        early += int((beams.sequences[:, 4:] == EOS).any())
    assert differs > 0 and early > 0


def test_one_beam_without_eos_is_greedy():
    model, ids = tiny_gpt2(3, vocab=40, scale=5.0), prompts(3, vocab=40)
    assert torch.equal(beam_search(model, ids, 1, 8).sequences, greedy_search(model, ids, 8))


# ---- stop sequences -----------------------------------------------------------------------------

CHARS = ["<eos>", "<pad>", *" abcdefghij.\n"]


def char_tokenizer():
    """A character tokenizer as a transformers tokenizer, built in code (no download)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tk = Tokenizer(models.WordLevel({c: i for i, c in enumerate(CHARS)}, unk_token="<eos>"))
    tk.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    tk.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=tk, eos_token="<eos>", pad_token="<pad>")


def decode_chars(ids: list[int]) -> str:
    return "".join(CHARS[i] for i in ids if i > 1)


@pytest.mark.parametrize("stops", [["."], ["ab"], ["a.", "\n\n"], ["jab", "c c"]])
def test_stop_sequence_rule_equals_stop_string_criteria(stops):
    criteria = StopStringCriteria(char_tokenizer(), stops)
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(2, len(CHARS), (300, 9), generator=gen)
    for row in range(0, 300, 2):  # plant a stop sequence ending 0, 1 or 2 tokens before the end
        stop, end = stops[row % len(stops)], 9 - row % 3
        ids[row, end - len(stop):end] = torch.tensor([CHARS.index(c) for c in stop])
    theirs = criteria(ids, None)
    ours = torch.tensor([hits_stop_sequence(row, decode_chars, stops) for row in ids.tolist()])
    assert torch.equal(ours, theirs)
    assert 0 < int(ours.sum()) < len(ours)


@pytest.mark.parametrize("seed", range(3))
def test_greedy_search_stops_where_generate_stops(seed):
    model, ids = tiny_gpt2(seed, vocab=len(CHARS), scale=5.0), prompts(seed, vocab=len(CHARS), batch=1)
    free = greedy_search(model, ids, 20)
    stop = decode_chars(free[0, 6:8].tolist())  # two characters the model will produce
    theirs = model.generate(ids, do_sample=False, max_new_tokens=20, eos_token_id=0, pad_token_id=PAD,
                            stop_strings=[stop], tokenizer=char_tokenizer())
    ours = greedy_search(model, ids, 20, eos_token_id=0, pad_token_id=PAD, stop_sequences=[stop], decode=decode_chars)
    assert torch.equal(ours, theirs)
    assert decode_chars(ours[0].tolist()).endswith(stop) and ours.shape[1] <= 8


def test_truncate_at_stop():
    assert truncate_at_stop("Answer: 42\nQuestion: next", ["\nQuestion:", "###"]) == "Answer: 42"
    assert truncate_at_stop("a###b\nQuestion:", ["\nQuestion:", "###"]) == "a"
    assert truncate_at_stop("no stop here", ["###"]) == "no stop here"


# ---- bad input ------------------------------------------------------------------------------------


def test_bad_logits_are_rejected():
    with pytest.raises(TypeError, match="logits"):
        apply_temperature([[1.0, 2.0]], 1.0)
    with pytest.raises(TypeError, match="logits"):
        top_k_filter(torch.tensor([[1, 2]]), 1)
    with pytest.raises(ValueError, match="logits"):
        top_p_filter(torch.randn(2, 3, 4), 0.9)
    with pytest.raises(ValueError, match="logits"):
        top_p_filter(torch.randn(5), 0.9)
    with pytest.raises(ValueError, match="logits"):
        greedy_next_token(torch.tensor([[0.0, math.nan]]))
    with pytest.raises(ValueError, match="logits"):
        sample_next_token(torch.full((1, 3), -math.inf))


@pytest.mark.parametrize("temperature", [0, 0.0, -1.0, math.inf])
def test_bad_temperature(temperature):
    with pytest.raises(ValueError, match="temperature"):
        apply_temperature(torch.randn(2, 5), temperature)


@pytest.mark.parametrize("top_p", [0.0, -0.1, 1.01, math.nan])
def test_bad_top_p(top_p):
    with pytest.raises(ValueError, match="top_p"):
        top_p_filter(torch.randn(2, 5), top_p)


@pytest.mark.parametrize(("top_k", "error"), [(0, ValueError), (-3, ValueError), (2.0, TypeError), (True, TypeError)])
def test_bad_top_k(top_k, error):
    with pytest.raises(error, match="top_k"):
        top_k_filter(torch.randn(2, 5), top_k)


def test_bad_filter_arguments():
    with pytest.raises(ValueError, match="min_tokens_to_keep"):
        top_p_filter(torch.randn(2, 5), 0.9, min_tokens_to_keep=0)
    with pytest.raises(TypeError, match="filter_value"):
        top_k_filter(torch.randn(2, 5), 2, filter_value="-inf")
    with pytest.raises(TypeError, match="temperature"):
        apply_temperature(torch.randn(2, 5), "hot")


def test_bad_repetition_penalty_arguments():
    x = torch.randn(2, 5)
    with pytest.raises(ValueError, match="penalty"):
        apply_repetition_penalty(x, torch.zeros(2, 3, dtype=torch.long), 0.0)
    with pytest.raises(ValueError, match="previous_ids"):
        apply_repetition_penalty(x, torch.tensor([[0, 5], [1, 2]]), 1.2)
    with pytest.raises(TypeError, match="previous_ids"):
        apply_repetition_penalty(x, torch.zeros(2, 3), 1.2)
    with pytest.raises(ValueError, match="previous_ids"):
        apply_repetition_penalty(x, torch.zeros(3, 3, dtype=torch.long), 1.2)
    with pytest.raises(ValueError, match="previous_ids"):
        process_logits(x, repetition_penalty=1.2)


def test_bad_loop_arguments():
    model, ids = tiny_gpt2(0), prompts(0)
    with pytest.raises(TypeError, match="ids"):
        greedy_search(model, ids.float(), 3)
    with pytest.raises(ValueError, match="ids"):
        greedy_search(model, ids[0], 3)
    with pytest.raises(ValueError, match="max_new_tokens"):
        greedy_search(model, ids, -1)
    with pytest.raises(ValueError, match="eos_token_id"):
        greedy_search(model, ids, 3, eos_token_id=99)
    with pytest.raises(TypeError, match="model"):
        greedy_search("gpt2", ids, 3)
    with pytest.raises(ValueError, match="temperature"):
        sample(model, ids, 3, temperature=0.0)
    with pytest.raises(ValueError, match="top_p"):
        sample(model, ids, 3, top_p=1.5)
    with pytest.raises(TypeError, match="generator"):
        sample(model, ids, 3, generator=0)
    with pytest.raises(TypeError, match="decode"):
        greedy_search(model, ids, 3, stop_sequences=["."])
    with pytest.raises(TypeError, match="stop_sequences"):
        greedy_search(model, ids, 3, stop_sequences=".", decode=decode_chars)
    with pytest.raises(ValueError, match="stop_sequences"):
        truncate_at_stop("abc", [""])
    with pytest.raises(ValueError, match="num_beams"):
        beam_search(model, ids, 0, 3)
    with pytest.raises(ValueError, match="num_return_sequences"):
        beam_search(model, ids, 2, 3, num_return_sequences=3)
    with pytest.raises(ValueError, match="early_stopping"):
        beam_search(model, ids, 2, 3, early_stopping="sometimes")
    with pytest.raises(ValueError, match="max_new_tokens"):
        beam_search(model, ids, 2, 0)
    with pytest.raises(ValueError, match="model must return"):
        next_token_logits(lambda x: torch.zeros(x.shape[0], 5), ids)
