"""genai_guide.objectives against transformers: the same MLM batches as DataCollatorForLanguageModeling,
BERT's masking statistics, span-corruption invariants, T5's decoder shift, and losses equal to the
models' own (BertForMaskedLM, T5ForConditionalGeneration, GPT2LMHeadModel) within 1e-6."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from genai_guide.objectives import (
    causal_lm_loss,
    corrupt_spans,
    mask_tokens,
    random_spans_noise_mask,
    shift_right,
    span_corruption,
)

LOSS_TOL = 1e-6
V = 50
PAD, UNK, CLS, SEP, MASK = 0, 1, 2, 3, 4
SPECIALS = [PAD, UNK, CLS, SEP, MASK]


def _framed_batch(gen: torch.Generator, batch: int, length: int, vocab_size: int, lowest: int = 5) -> torch.Tensor:
    """Random ordinary tokens framed by [CLS] ... [SEP] and right-padded to `length`."""
    ids = torch.randint(lowest, vocab_size, (batch, length), generator=gen)
    lengths = torch.randint(2, length + 1, (batch,), generator=gen)
    positions = torch.arange(length)
    ids[:, 0] = CLS
    ids[positions >= lengths[:, None] - 1] = SEP
    ids[positions >= lengths[:, None]] = PAD
    return ids


# ---------------------------------------------------------------- masked language modelling (BERT)

def _word_level_tokenizer(vocab_size: int):
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    names = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(vocab_size - 5)]
    return PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(models.WordLevel({t: i for i, t in enumerate(names)}, unk_token="[UNK]")),
        pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")


@pytest.mark.parametrize("seed", range(6))
def test_mask_tokens_equals_data_collator_for_language_modeling(seed):
    from transformers import DataCollatorForLanguageModeling

    gen = torch.Generator().manual_seed(seed)
    vocab_size = int(torch.randint(6, 200, (1,), generator=gen))
    batch, length = (int(x) for x in torch.randint(2, 48, (2,), generator=gen))
    p = [0.15, 0.15, 0.3, 0.5, 0.0, 1.0][seed]
    ids = _framed_batch(gen, batch, length, vocab_size)
    tokenizer = _word_level_tokenizer(vocab_size)
    assert sorted(tokenizer.all_special_ids) == SPECIALS and len(tokenizer) == vocab_size

    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=p)
    collator.generator = torch.Generator().manual_seed(100 + seed)
    ref_inputs, ref_labels = collator.torch_mask_tokens(ids.clone(), special_tokens_mask=torch.isin(ids, torch.tensor(SPECIALS)))
    inputs, labels = mask_tokens(ids, vocab_size, MASK, SPECIALS, mlm_probability=p,
                                 generator=torch.Generator().manual_seed(100 + seed))
    assert torch.equal(inputs, ref_inputs) and torch.equal(labels, ref_labels)


def test_masking_statistics_on_a_large_batch():
    vocab_size = 30522
    ids = _framed_batch(torch.Generator().manual_seed(0), 4000, 256, vocab_size, lowest=1000)
    original = ids.clone()
    inputs, labels = mask_tokens(ids, vocab_size, MASK, SPECIALS, generator=torch.Generator().manual_seed(1))
    assert torch.equal(ids, original)  # the input is not modified

    special = torch.isin(ids, torch.tensor(SPECIALS))
    chosen = labels != -100
    assert not (chosen & special).any()  # special tokens are never chosen
    assert torch.equal(inputs[special], ids[special])  # ... nor changed
    assert torch.equal(labels[chosen], ids[chosen])  # labels hold the original token
    assert torch.equal(inputs[~chosen], ids[~chosen])  # positions not chosen are untouched
    rate = chosen.sum() / (~special).sum()
    assert abs(rate - 0.15) < 0.0025, rate  # ~505,000 candidates: 5 standard deviations
    became_mask = (inputs == MASK) & chosen
    unchanged = (inputs == ids) & chosen
    became_random = chosen & ~became_mask & ~unchanged
    n = chosen.sum()
    for part, expected in ((became_mask, 0.8), (became_random, 0.1), (unchanged, 0.1)):
        assert abs(part.sum() / n - expected) < 0.005, (part.sum() / n, expected)  # ~75,000 chosen: 3.5 to 4.5 sd
    assert inputs[became_random].unique().numel() > 1000  # random tokens are spread over the vocabulary


def test_mlm_probability_extremes():
    ids = _framed_batch(torch.Generator().manual_seed(2), 8, 16, V)
    special = torch.isin(ids, torch.tensor(SPECIALS))
    _, labels = mask_tokens(ids, V, MASK, SPECIALS, mlm_probability=0.0)
    assert (labels == -100).all()
    _, labels = mask_tokens(ids, V, MASK, SPECIALS, mlm_probability=1.0)
    assert torch.equal(labels != -100, ~special)


def test_mask_tokens_is_reproducible_and_random():
    ids = _framed_batch(torch.Generator().manual_seed(3), 16, 32, V)
    first = mask_tokens(ids, V, MASK, SPECIALS, generator=torch.Generator().manual_seed(7))
    again = mask_tokens(ids, V, MASK, SPECIALS, generator=torch.Generator().manual_seed(7))
    other = mask_tokens(ids, V, MASK, SPECIALS, generator=torch.Generator().manual_seed(8))
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not torch.equal(first[1], other[1])


def test_mlm_loss_by_hand_equals_bert_for_masked_lm():
    from transformers import BertConfig, BertForMaskedLM

    torch.manual_seed(0)
    bert = BertForMaskedLM(BertConfig(vocab_size=V, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                      intermediate_size=64, max_position_embeddings=32, pad_token_id=PAD)).eval()
    ids = _framed_batch(torch.Generator().manual_seed(4), 6, 20, V)
    inputs, labels = mask_tokens(ids, V, MASK, SPECIALS, mlm_probability=0.3, generator=torch.Generator().manual_seed(0))
    out = bert(input_ids=inputs, attention_mask=(ids != PAD).long(), labels=labels)
    scored = labels != -100
    by_hand = -out.logits.log_softmax(-1)[scored].gather(1, labels[scored][:, None]).mean()
    assert abs(by_hand - out.loss) < LOSS_TOL


# ---------------------------------------------------------------- span corruption (T5)

SENTINELS = list(range(999, 899, -1))  # 100 sentinels at the end of a 1000-token vocabulary, like T5's


def _runs(mask: torch.Tensor) -> list[tuple[bool, int]]:
    runs: list[tuple[bool, int]] = []
    for value in mask.tolist():
        if runs and runs[-1][0] == value:
            runs[-1] = (value, runs[-1][1] + 1)
        else:
            runs.append((value, 1))
    return runs


def _fill_in(inputs: torch.Tensor, targets: torch.Tensor) -> list[int]:
    """Independent inverse: put each target span back where its sentinel sits in the inputs."""
    spans: dict[int, list[int]] = {}
    current: list[int] | None = None
    for t in targets.tolist():
        if t in SENTINELS:
            current = spans.setdefault(t, [])
        else:
            assert current is not None, "targets must start with a sentinel"
            current.append(t)
    return [t for s in inputs.tolist() for t in (spans[s] if s in SENTINELS else [s])]


@pytest.mark.parametrize("length", [2, 3, 7, 10, 20, 57, 100, 128, 512])
@pytest.mark.parametrize("density,mean", [(0.15, 3), (0.15, 1), (0.5, 8), (0.3, 2.5)])
def test_noise_mask_counts_follow_t5(length, density, mean):
    expected_noise = min(max(round(length * density), 1), length - 1)
    expected_spans = max(round(expected_noise / mean), 1)
    for seed in range(5):
        mask = random_spans_noise_mask(length, density, mean, generator=torch.Generator().manual_seed(seed))
        assert mask.shape == (length,) and mask.dtype == torch.bool
        runs = _runs(mask)
        assert int(mask.sum()) == expected_noise
        assert [value for value, _ in runs] == [False, True] * expected_spans  # kept first, noise last
        if length > 1:
            assert sum(1 for value, _ in runs if value) == expected_spans


def test_noise_mask_of_one_token_drops_nothing():
    assert random_spans_noise_mask(1).tolist() == [False]


def test_every_position_but_the_first_can_be_dropped():
    gen = torch.Generator().manual_seed(0)
    counts = sum(random_spans_noise_mask(100, generator=gen).long() for _ in range(2000))
    assert counts[0] == 0 and (counts[1:] > 0).all()  # kept run first; every other position can be noise
    assert counts[-1] == 2000  # and, as in T5's code, the last run is always noise
    assert counts.sum() == 2000 * 15  # round(100 * 0.15) = 15 every time


def test_a_single_span_always_sits_at_the_end():
    # round(20 * 0.15) = 3 tokens in round(3 / 3) = 1 span: T5's layout "kept, noise" leaves one choice
    masks = {tuple(random_spans_noise_mask(20, generator=torch.Generator().manual_seed(s)).tolist()) for s in range(20)}
    assert masks == {(False,) * 17 + (True,) * 3}


def test_paper_example():
    sentence = "Thank you for inviting me to your party last week ."
    words = sentence.split()
    ids = {w: i for i, w in enumerate(dict.fromkeys(words))}
    x = {0: "<X>", 1: "<Y>", 2: "<Z>"}
    sentinels = [900, 901, 902]
    names = {**{i: w for w, i in ids.items()}, **{s: x[k] for k, s in enumerate(sentinels)}}
    tokens = torch.tensor([ids[w] for w in words])
    noise = torch.tensor([w in ("for", "inviting", "last") for w in words])
    inputs, targets = corrupt_spans(tokens, noise, sentinels)
    assert " ".join(names[i] for i in inputs.tolist()) == "Thank you <X> me to your party <Y> week ."
    assert " ".join(names[i] for i in targets.tolist()) == "<X> for inviting <Y> last <Z>"


@pytest.mark.parametrize("seed", range(40))
def test_span_corruption_invariants(seed):
    gen = torch.Generator().manual_seed(seed)
    length = int(torch.randint(1, 300, (1,), generator=gen))
    density = [0.15, 0.15, 0.05, 0.3, 0.5][seed % 5]
    mean = [3, 3, 1, 2, 5.5][seed % 5]
    tokens = torch.randint(0, 900, (length,), generator=gen)
    inputs, targets = span_corruption(tokens, SENTINELS, density, mean, generator=gen)

    assert _fill_in(inputs, targets) == tokens.tolist()  # inputs + targets reconstruct the sequence
    in_sentinels = [t for t in inputs.tolist() if t in SENTINELS]
    out_sentinels = [t for t in targets.tolist() if t in SENTINELS]
    s = len(in_sentinels)
    assert in_sentinels == SENTINELS[:s]  # <extra_id_0>, <extra_id_1>, ... in order
    assert out_sentinels == SENTINELS[:s + 1]  # the same, plus a final sentinel
    assert targets[0] == SENTINELS[0] and targets[-1] == SENTINELS[s]
    n = len(targets) - s - 1
    assert len(inputs) == length - n + s
    if length > 1:
        assert n == min(max(round(length * density), 1), length - 1) and s == max(round(n / mean), 1)
    # no two sentinels side by side in the inputs: each replaces a whole span
    assert all(not (a in SENTINELS and b in SENTINELS) for a, b in zip(inputs.tolist(), inputs.tolist()[1:]))


def test_corrupt_spans_with_no_noise_and_with_adjacent_spans():
    tokens = torch.tensor([10, 11, 12, 13])
    inputs, targets = corrupt_spans(tokens, torch.zeros(4, dtype=torch.bool), SENTINELS)
    assert inputs.tolist() == [10, 11, 12, 13] and targets.tolist() == [SENTINELS[0]]
    inputs, targets = corrupt_spans(torch.tensor([], dtype=torch.long), torch.tensor([], dtype=torch.bool), SENTINELS)
    assert inputs.tolist() == [] and targets.tolist() == [SENTINELS[0]]
    inputs, targets = corrupt_spans(tokens, torch.tensor([True, False, True, True]), SENTINELS)
    assert inputs.tolist() == [SENTINELS[0], 11, SENTINELS[1]]
    assert targets.tolist() == [SENTINELS[0], 10, SENTINELS[1], 12, 13, SENTINELS[2]]


def test_shift_right_equals_t5():
    from transformers import T5Config, T5ForConditionalGeneration

    t5 = T5ForConditionalGeneration(T5Config(vocab_size=V, d_model=16, d_kv=8, d_ff=32, num_layers=1, num_heads=2,
                                             pad_token_id=PAD, eos_token_id=UNK, decoder_start_token_id=PAD))
    labels = torch.randint(5, V, (3, 9))
    labels[1, 6:] = -100
    labels[2, 3:] = -100
    assert torch.equal(shift_right(labels, PAD, PAD), t5.prepare_decoder_input_ids_from_labels(labels=labels))
    assert shift_right(torch.tensor([7, 8, -100]), 5, 0).tolist() == [5, 7, 8]  # 1-D works too


def test_seq2seq_loss_by_hand_equals_t5_for_conditional_generation():
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(0)
    vocab_size = 1000
    t5 = T5ForConditionalGeneration(T5Config(vocab_size=vocab_size, d_model=32, d_kv=16, d_ff=64, num_layers=2,
                                             num_heads=2, pad_token_id=PAD, eos_token_id=UNK,
                                             decoder_start_token_id=PAD)).eval()
    tokens = torch.randint(5, 900, (60,))
    inputs, targets = span_corruption(tokens, SENTINELS, generator=torch.Generator().manual_seed(0))
    labels = torch.cat([targets, torch.tensor([UNK])])[None]
    out = t5(input_ids=torch.cat([inputs, torch.tensor([UNK])])[None], labels=labels)
    logits = t5(input_ids=torch.cat([inputs, torch.tensor([UNK])])[None],
                decoder_input_ids=shift_right(labels, PAD, PAD)).logits
    by_hand = F.cross_entropy(logits[0], labels[0])
    assert abs(by_hand - out.loss) < LOSS_TOL


# ---------------------------------------------------------------- causal language modelling (GPT-2)

@pytest.mark.parametrize("seed", range(3))
def test_causal_lm_loss_equals_gpt2_lm_head_model(seed):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    gpt2 = GPT2LMHeadModel(GPT2Config(vocab_size=V, n_positions=32, n_embd=32, n_layer=2, n_head=2,
                                      bos_token_id=UNK, eos_token_id=UNK, pad_token_id=PAD)).eval()
    ids = torch.randint(2, V, (4, 12))
    ids[1, 7:] = PAD
    ids[3, 2:] = PAD
    attention_mask = (ids != PAD).long()
    labels = ids.masked_fill(attention_mask == 0, -100)
    for kwargs, target in (({}, ids), ({"attention_mask": attention_mask}, labels)):
        out = gpt2(input_ids=ids, labels=target, **kwargs)
        assert abs(causal_lm_loss(out.logits, target) - out.loss) < LOSS_TOL


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.float16])
def test_causal_lm_loss_equals_transformers_loss_function(dtype):
    from transformers.loss.loss_utils import ForCausalLMLoss

    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 10, 17, generator=gen).to(dtype)
    labels = torch.randint(0, 17, (3, 10), generator=gen)
    labels[0, 4:] = -100
    ours = causal_lm_loss(logits, labels)
    assert ours.dtype == (torch.float64 if dtype == torch.float64 else torch.float32)
    torch.testing.assert_close(ours, ForCausalLMLoss(logits, labels, vocab_size=17).to(ours.dtype),
                               atol=LOSS_TOL, rtol=0)


def test_causal_lm_loss_ignores_the_last_position():
    logits = torch.randn(2, 5, 7)
    ids = torch.randint(0, 7, (2, 5))
    changed = logits.clone()
    changed[:, -1] = torch.randn(2, 7)  # the last position predicts nothing
    assert causal_lm_loss(logits, ids) == causal_lm_loss(changed, ids)


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize(
    "call,error,argument",
    [
        (lambda: mask_tokens([[5, 6]], V, MASK, SPECIALS), TypeError, "input_ids"),
        (lambda: mask_tokens(torch.ones(2, 3), V, MASK, SPECIALS), TypeError, "input_ids"),
        (lambda: mask_tokens(torch.tensor(5), V, MASK, SPECIALS), ValueError, "input_ids"),
        (lambda: mask_tokens(torch.tensor([[5, V]]), V, MASK, SPECIALS), ValueError, "input_ids"),
        (lambda: mask_tokens(torch.tensor([[5, 6]]), 0, MASK, SPECIALS), ValueError, "vocab_size"),
        (lambda: mask_tokens(torch.tensor([[5, 6]]), V, V, SPECIALS), ValueError, "mask_token_id"),
        (lambda: mask_tokens(torch.tensor([[5, 6]]), V, MASK, 3), TypeError, "special_ids"),
        (lambda: mask_tokens(torch.tensor([[5, 6]]), V, MASK, SPECIALS, mlm_probability=1.5), ValueError,
         "mlm_probability"),
        (lambda: mask_tokens(torch.tensor([[5, 6]]), V, MASK, SPECIALS, generator=0), TypeError, "generator"),
        (lambda: random_spans_noise_mask(0), ValueError, "length"),
        (lambda: random_spans_noise_mask(10, noise_density=0.0), ValueError, "noise_density"),
        (lambda: random_spans_noise_mask(10, noise_density=1.0), ValueError, "noise_density"),
        (lambda: random_spans_noise_mask(10, mean_span_length=0.5), ValueError, "mean_span_length"),
        (lambda: span_corruption(torch.tensor([[1, 2]]), SENTINELS), ValueError, "tokens"),
        (lambda: span_corruption(torch.tensor([1.0, 2.0]), SENTINELS), TypeError, "tokens"),
        (lambda: span_corruption(torch.tensor([], dtype=torch.long), SENTINELS), ValueError, "tokens"),
        (lambda: span_corruption(torch.arange(100), [998, 999]), ValueError, "sentinel_ids"),
        (lambda: span_corruption(torch.tensor([1, 999, 3]), SENTINELS), ValueError, "tokens"),
        (lambda: corrupt_spans(torch.tensor([1, 2]), torch.tensor([0, 1]), SENTINELS), TypeError, "noise_mask"),
        (lambda: corrupt_spans(torch.tensor([1, 2]), torch.tensor([True]), SENTINELS), ValueError, "noise_mask"),
        (lambda: corrupt_spans(torch.tensor([1, 2]), torch.tensor([False, True]), [7, 7]), ValueError, "sentinel_ids"),
        (lambda: shift_right(torch.ones(2, 3), 0, 0), TypeError, "labels"),
        (lambda: causal_lm_loss(torch.ones(2, 3, 5, dtype=torch.long), torch.ones(2, 3, dtype=torch.long)),
         TypeError, "logits"),
        (lambda: causal_lm_loss(torch.ones(2, 3), torch.ones(2, 3, dtype=torch.long)), ValueError, "logits"),
        (lambda: causal_lm_loss(torch.ones(2, 3, 5), torch.ones(2, 4, dtype=torch.long)), ValueError, "input_ids"),
        (lambda: causal_lm_loss(torch.ones(2, 1, 5), torch.ones(2, 1, dtype=torch.long)), ValueError, "input_ids"),
        (lambda: causal_lm_loss(torch.ones(2, 3, 5), torch.ones(2, 3)), TypeError, "input_ids"),
    ],
)
def test_bad_input_is_rejected_with_a_clear_message(call, error, argument):
    with pytest.raises(error, match=argument):
        call()
