"""genai_guide.sft against trl and transformers: the labels SFTTrainer builds (completion-only and
assistant-only), the loss the models compute, trl's packing and position ids, the chat template;
ROUGE-L against a brute-force LCS and the worked examples of Lin (2004); bad input rejected."""

from __future__ import annotations

import itertools
import random
import tempfile
from pathlib import Path

import datasets
import pytest
import torch
import torch.nn.functional as F
import transformers
from datasets import Dataset
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
)
from trl import SFTConfig, SFTTrainer, pack_dataset
from trl.data_utils import is_conversational
from trl.trainer.sft_trainer import DataCollatorForLanguageModeling
from trl.trainer.utils import add_fused_lm_head

from genai_guide.sft import (
    CHATML_TEMPLATE,
    IGNORE_INDEX,
    alpaca_prompt,
    alpaca_to_messages,
    alpaca_to_prompt_completion,
    assistant_char_spans,
    bfd_bins,
    completion_mask,
    examples_proportional_rates,
    format_with_templates,
    instruction_filter_reason,
    labels_from_masks,
    lcs_length,
    masked_cross_entropy,
    messages_to_prompt_completion,
    mix_tasks,
    pack_bfd,
    pack_wrapped,
    packed_position_ids,
    padding_waste,
    render_chatml,
    rouge_l,
    rouge_tokenize,
    self_instruct,
    sft_dataset_format,
    token_mask_from_spans,
)
from genai_guide.texts import read_text

transformers.logging.set_verbosity_error()
datasets.disable_progress_bars()

ROOT = Path(__file__).resolve().parents[1]
SPECIALS = ["<pad>", "<|im_start|>", "<|im_end|>"]
WORDS = ["lamp", "keeper", "tower", "stone", "sea", "light", "the", "of", "a", "boat", "rang", "bell"]


# ------------------------------------------------------------------------------------------------
# Tokenizers and models built in code
# ------------------------------------------------------------------------------------------------


def char_tokenizer() -> PreTrainedTokenizerFast:
    """One token per character, three special tokens: merges can never cross a boundary."""
    chars = sorted(set("0123456789+-=?!.,: \n" + "abcdefghijklmnopqrstuvwxyz" + "ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    vocab = {t: i for i, t in enumerate(SPECIALS + chars)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=None))
    tok.add_special_tokens(SPECIALS)
    tok.decoder = decoders.Fuse()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<|im_end|>")
    tokenizer.chat_template = CHATML_TEMPLATE
    return tokenizer


def bpe_tokenizer() -> PreTrainedTokenizerFast:
    """A byte-level BPE (GPT-2 style) trained on the harbour story: merges do cross boundaries."""
    text = read_text("harbour").splitlines()
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(text, trainers.BpeTrainer(vocab_size=400, special_tokens=SPECIALS, show_progress=False,
                                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<|im_end|>")
    tokenizer.chat_template = CHATML_TEMPLATE
    return tokenizer


TOKENIZERS = {"char": char_tokenizer(), "bpe": bpe_tokenizer()}


def tiny_llama(vocab_size: int, seed: int = 0) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         bos_token_id=None, eos_token_id=2, pad_token_id=0)
    return LlamaForCausalLM(config).eval()


def tiny_gpt2(vocab_size: int, seed: int = 0) -> GPT2LMHeadModel:
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=vocab_size, n_embd=32, n_layer=2, n_head=4, n_positions=256,
                        bos_token_id=None, eos_token_id=2, pad_token_id=0)
    return GPT2LMHeadModel(config).eval()


def sentence(rng: random.Random, k: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(k))


def conversation(rng: random.Random) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": sentence(rng, 2)}] if rng.random() < 0.5 else []
    for _ in range(rng.randint(1, 3)):
        messages.append({"role": "user", "content": sentence(rng, rng.randint(1, 5))})
        messages.append({"role": "assistant", "content": sentence(rng, rng.randint(1, 5))})
    return messages


def prepared(tokenizer, rows: list[dict], **config) -> Dataset:
    """The dataset SFTTrainer trains on: the reference for labels, truncation off, no shuffling."""
    args = SFTConfig(output_dir=tempfile.mkdtemp(), report_to="none", disable_tqdm=True, save_strategy="no",
                     logging_strategy="no", bf16=False, activation_checkpointing=False, use_cpu=True,
                     max_length=config.pop("max_length", None), **config)
    trainer = SFTTrainer(model=tiny_llama(len(tokenizer)), args=args, train_dataset=Dataset.from_list(rows),
                         processing_class=tokenizer)
    return trainer.train_dataset


# ------------------------------------------------------------------------------------------------
# Dataset formats and the chat template
# ------------------------------------------------------------------------------------------------


def test_alpaca_prompt_is_alpacas_template():
    assert alpaca_prompt("Reverse the word.", "lamp") == (
        "Below is an instruction that describes a task, paired with an input that provides further context. "
        "Write a response that appropriately completes the request.\n\n"
        "### Instruction:\nReverse the word.\n\n### Input:\nlamp\n\n### Response:")
    assert alpaca_prompt("Name a colour.").endswith("### Instruction:\nName a colour.\n\n### Response:")
    assert "### Input" not in alpaca_prompt("Name a colour.")


def test_formats_are_the_ones_trl_recognises():
    record = {"instruction": "Reverse the word.", "input": "lamp", "output": "pmal"}
    pc = alpaca_to_prompt_completion(record)
    chat = alpaca_to_messages(record, system="Be brief.")
    cpc = messages_to_prompt_completion(chat)
    assert chat["messages"][1]["content"] == "Reverse the word.\n\nlamp"
    assert cpc == {"prompt": chat["messages"][:2], "completion": chat["messages"][2:]}
    cases = [({"text": "hi"}, "language modeling", False), (pc, "prompt-completion", False),
             (chat, "conversational language modeling", True), (cpc, "conversational prompt-completion", True)]
    for example, name, conv in cases:
        assert sft_dataset_format(example) == name
        assert is_conversational(example) == conv
    with pytest.raises(ValueError, match="Alpaca"):
        sft_dataset_format(record)


@pytest.mark.parametrize("kind", sorted(TOKENIZERS))
@pytest.mark.parametrize("seed", range(8))
def test_chat_template_renders_like_render_chatml(kind, seed):
    tokenizer, messages = TOKENIZERS[kind], conversation(random.Random(seed))
    assert tokenizer.apply_chat_template(messages, tokenize=False) == render_chatml(messages)
    prompt = messages[:-1]
    assert (tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
            == render_chatml(prompt, add_generation_prompt=True))


@pytest.mark.parametrize("kind", sorted(TOKENIZERS))
@pytest.mark.parametrize("seed", range(8))
def test_assistant_mask_equals_transformers(kind, seed):
    """transformers' return_assistant_tokens_mask is what SFTTrainer(assistant_only_loss=True) uses."""
    tokenizer, messages = TOKENIZERS[kind], conversation(random.Random(100 + seed))
    reference = tokenizer.apply_chat_template(messages, return_dict=True, return_assistant_tokens_mask=True)
    encoded = tokenizer(render_chatml(messages), add_special_tokens=False, return_offsets_mapping=True)
    mine = token_mask_from_spans(encoded["offset_mapping"], assistant_char_spans(messages))
    assert encoded["input_ids"] == reference["input_ids"]
    assert mine == reference["assistant_masks"]
    assert 1 in mine and 0 in mine


# ------------------------------------------------------------------------------------------------
# Label masking: equal to the labels SFTTrainer builds
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(TOKENIZERS))
def test_completion_only_labels_equal_sft_trainer(kind):
    tokenizer, rng = TOKENIZERS[kind], random.Random(1)
    rows = [{"prompt": sentence(rng, rng.randint(1, 4)) + rng.choice([" ", ": ", ""]),
             "completion": sentence(rng, rng.randint(1, 4))} for _ in range(12)]
    rows.append({"prompt": "The keep", "completion": "er rang the bell"})  # a merge across the boundary
    reference = prepared(tokenizer, rows)
    for row, ref in zip(rows, reference):
        prompt_ids = tokenizer(row["prompt"]).input_ids
        full_ids = tokenizer(row["prompt"] + row["completion"] + tokenizer.eos_token).input_ids
        assert ref["input_ids"] == full_ids
        assert ref["labels"] == labels_from_masks(full_ids, completion_mask(prompt_ids, full_ids))


@pytest.mark.parametrize("kind", sorted(TOKENIZERS))
def test_conversational_completion_only_labels_equal_sft_trainer(kind):
    tokenizer = TOKENIZERS[kind]
    rows = [messages_to_prompt_completion({"messages": conversation(random.Random(s))}) for s in range(10)]
    reference = prepared(tokenizer, rows)
    for row, ref in zip(rows, reference):
        prompt_ids = tokenizer(render_chatml(row["prompt"], add_generation_prompt=True), add_special_tokens=False).input_ids
        full_ids = tokenizer(render_chatml(row["prompt"] + row["completion"]), add_special_tokens=False).input_ids
        assert ref["labels"] == labels_from_masks(full_ids, completion_mask(prompt_ids, full_ids))


@pytest.mark.parametrize("kind", sorted(TOKENIZERS))
def test_assistant_only_labels_equal_sft_trainer(kind):
    tokenizer = TOKENIZERS[kind]
    rows = [{"messages": conversation(random.Random(50 + s))} for s in range(10)]
    reference = prepared(tokenizer, rows, assistant_only_loss=True)
    for row, ref in zip(rows, reference):
        encoded = tokenizer(render_chatml(row["messages"]), add_special_tokens=False, return_offsets_mapping=True)
        mask = token_mask_from_spans(encoded["offset_mapping"], assistant_char_spans(row["messages"]))
        assert ref["input_ids"] == encoded["input_ids"]
        assert ref["labels"] == labels_from_masks(encoded["input_ids"], mask)


def test_language_modeling_labels_are_the_inputs():
    tokenizer = TOKENIZERS["bpe"]
    rows = [{"text": "the keeper rang the bell"}, {"messages": conversation(random.Random(3))}]
    for row in rows:
        ref = prepared(tokenizer, [row])[0]
        assert ref["labels"] == labels_from_masks(ref["input_ids"]) == ref["input_ids"]


def test_completion_mask_starts_where_the_tokenizations_diverge():
    assert completion_mask([5, 6, 7], [5, 6, 7, 8, 9]) == [0, 0, 0, 1, 1]
    assert completion_mask([5, 6, 7], [5, 6, 70, 9]) == [0, 0, 1, 1]  # 7 merged with what followed
    assert labels_from_masks([5, 6, 7, 8], [0, 0, 1, 1], [1, 0, 1, 1]) == [-100, -100, 7, 8]


# ------------------------------------------------------------------------------------------------
# The masked loss: equal to the model's loss, to trl's loss and to cross_entropy
# ------------------------------------------------------------------------------------------------


def random_labels(gen: torch.Generator, batch: int, length: int, vocab: int) -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.randint(3, vocab, (batch, length), generator=gen)
    labels = ids.clone()
    prompt = torch.randint(0, length - 2, (batch,), generator=gen)
    labels[torch.arange(length) < prompt[:, None]] = IGNORE_INDEX
    if batch > 1:
        labels[-1, -2:] = IGNORE_INDEX  # some padding at the end of one row
    return ids, labels


@pytest.mark.parametrize("seed", range(10))
def test_masked_loss_equals_cross_entropy(seed):
    gen = torch.Generator().manual_seed(seed)
    batch, length, vocab = 1 + seed % 4, 3 + seed, 7 + seed
    logits = torch.randn(batch, length, vocab, generator=gen, dtype=torch.float64)
    _, labels = random_labels(gen, batch, length, vocab)
    reference = F.cross_entropy(logits[:, :-1].reshape(-1, vocab), labels[:, 1:].reshape(-1), ignore_index=-100)
    torch.testing.assert_close(masked_cross_entropy(logits, labels), reference.float(), rtol=1e-6, atol=1e-6)
    # per-sequence averaging: each scored sequence's mean, then their mean
    per_seq = [F.cross_entropy(logits[b, :-1], labels[b, 1:], ignore_index=-100)
               for b in range(batch) if (labels[b, 1:] != -100).any()]
    torch.testing.assert_close(masked_cross_entropy(logits, labels, reduction="sequence"),
                               torch.stack(per_seq).mean().float(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("make_model", [tiny_gpt2, tiny_llama])
@pytest.mark.parametrize("seed", range(3))
def test_masked_loss_equals_model_loss_and_trl_loss(make_model, seed):
    vocab = 40
    model = make_model(vocab, seed)
    ids, labels = random_labels(torch.Generator().manual_seed(seed), 3, 12, vocab)
    attention_mask = (labels != IGNORE_INDEX) | (torch.arange(12) < 10)
    out = model(input_ids=ids, attention_mask=attention_mask, labels=labels)
    ours = masked_cross_entropy(out.logits, labels)
    torch.testing.assert_close(ours, out.loss, rtol=1e-5, atol=1e-6)
    # the gradients agree too
    g_ours = torch.autograd.grad(ours, model.get_input_embeddings().weight, retain_graph=True)[0]
    g_ref = torch.autograd.grad(out.loss, model.get_input_embeddings().weight)[0]
    torch.testing.assert_close(g_ours, g_ref, rtol=1e-4, atol=1e-7)
    # SFTTrainer's loss: the fused LM head's log-probabilities, summed and divided by the scored tokens
    add_fused_lm_head(model)
    fused = model(input_ids=ids, attention_mask=attention_mask, labels=labels, fused_lm_head=True)
    trl_loss = -fused.log_probs.sum() / (labels[:, 1:] != IGNORE_INDEX).sum()
    torch.testing.assert_close(ours, trl_loss, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------------------------
# Packing: equal to trl.pack_dataset, positions equal to trl's collator, equal to separate forwards
# ------------------------------------------------------------------------------------------------


def random_columns(rng: random.Random, n: int) -> dict[str, list[list[int]]]:
    rows = [[rng.randrange(100) for _ in range(rng.choice([0, 1, 2, rng.randint(1, 60)]))] for _ in range(n)]
    rows[0] = rows[0] or [7]  # trl cannot pack a batch whose rows are all empty
    labels = [[t if rng.random() < 0.5 else IGNORE_INDEX for t in row] for row in rows]
    return {"input_ids": rows, "labels": labels}


@pytest.mark.parametrize("seed", range(12))
def test_packing_equals_trl(seed):
    rng = random.Random(seed)
    n = [3, 40, 250, 1234][seed % 4]  # 1234 rows: trl packs in batches of 1000
    seq_length = rng.randint(1, 48)
    columns = random_columns(rng, n)
    dataset = Dataset.from_dict(columns)
    assert pack_dataset(dataset, seq_length, "bfd")[:] == pack_bfd(columns, seq_length)
    assert pack_dataset(dataset, seq_length, "bfd_split")[:] == pack_bfd(columns, seq_length, split=True)
    assert pack_dataset(dataset, seq_length, "wrapped")[:] == pack_wrapped(columns, seq_length)


def test_bfd_is_best_fit_decreasing():
    # capacity 10, lengths 6 5 4 3 2: 6 opens bin 0; 5 opens bin 1; 4 fits bin 0 exactly (room 4 < 5);
    # 3 goes to bin 1 (room 5 -> 2); 2 fits bin 1 exactly.
    assert bfd_bins([3, 6, 2, 5, 4], 10) == [[1, 4], [3, 0, 2]]
    # every item is placed once and no bin overflows
    rng = random.Random(0)
    lengths = [rng.randint(1, 16) for _ in range(300)]
    bins = bfd_bins(lengths, 16)
    assert sorted(i for b in bins for i in b) == list(range(300))
    assert all(sum(lengths[i] for i in b) <= 16 for b in bins)
    assert len(bins) >= -(-sum(lengths) // 16)


@pytest.mark.parametrize("seed", range(5))
def test_position_ids_equal_trl_collator(seed):
    rng = random.Random(seed)
    packed = pack_bfd(random_columns(rng, 30), rng.randint(8, 40))
    rows = [{"input_ids": ids, "labels": lab, "seq_lengths": sl}
            for ids, lab, sl in zip(packed["input_ids"], packed["labels"], packed["seq_lengths"])][:4]
    reference = DataCollatorForLanguageModeling.get_position_ids_from_packed_seq_lengths([r["seq_lengths"] for r in rows])
    assert [p.tolist() for p in reference] == [packed_position_ids(r["seq_lengths"]) for r in rows]
    # the padding-free collator flattens the batch; each sequence's first label is not learned
    batch = DataCollatorForLanguageModeling(pad_token_id=0, padding_free=True)(rows)
    positions = [p for r in rows for p in packed_position_ids(r["seq_lengths"])]
    assert batch["position_ids"][0].tolist() == positions
    labels = [lab for r in rows for lab in r["labels"]]
    assert batch["labels"][0].tolist() == [IGNORE_INDEX if p == 0 else lab for p, lab in zip(positions, labels)]


@pytest.mark.parametrize("make_model", [tiny_gpt2, tiny_llama])
def test_packed_forward_equals_separate_forwards(make_model):
    model = make_model(50)
    gen = torch.Generator().manual_seed(0)
    seqs = [torch.randint(3, 50, (1, n), generator=gen) for n in (5, 3, 7)]
    packed = torch.cat(seqs, dim=1)
    positions = torch.tensor([packed_position_ids([s.shape[1] for s in seqs])])
    with torch.no_grad():
        logits = model(packed, position_ids=positions, use_cache=False).logits
        plain = model(packed, use_cache=False).logits
        start = 0
        for s in seqs:
            alone = model(s).logits
            torch.testing.assert_close(logits[:, start:start + s.shape[1]], alone, rtol=1e-5, atol=1e-5)
            start += s.shape[1]
    assert not torch.allclose(plain[:, 5:8], logits[:, 5:8], atol=1e-3)  # without them, sequences leak


def test_sft_trainer_packing_equals_pack_bfd():
    tokenizer, rng = TOKENIZERS["char"], random.Random(4)
    rows = [{"prompt": f"{a}+{b}=", "completion": str(a + b) * rng.randint(1, 5)}
            for a, b in itertools.product(range(5), range(4))]
    unpacked = prepared(tokenizer, rows)
    packed = prepared(tokenizer, rows, packing=True, max_length=24)
    mine = pack_bfd({"input_ids": unpacked["input_ids"], "labels": unpacked["labels"]}, 24)
    assert packed[:]["input_ids"] == mine["input_ids"]
    assert packed[:]["labels"] == mine["labels"]
    assert packed[:]["seq_lengths"] == mine["seq_lengths"]


def test_padding_waste_counts_pad_tokens():
    lengths = [3, 5, 2, 2, 7]
    padded = [torch.nn.utils.rnn.pad_sequence([torch.ones(n) for n in lengths[i:i + 2]], batch_first=True)
              for i in range(0, 5, 2)]
    total = sum(p.numel() for p in padded)
    assert padding_waste(lengths, 2) == pytest.approx(1 - sum(lengths) / total)
    assert padding_waste([4, 4, 4], 3) == 0.0
    assert padding_waste(lengths, 1) == 0.0


# ------------------------------------------------------------------------------------------------
# FLAN-style templates and mixing
# ------------------------------------------------------------------------------------------------


def test_examples_proportional_rates():
    rates = examples_proportional_rates({"a": 100_000, "b": 3_000, "c": 1_000, "d": 0}, cap=3_000)
    assert rates == pytest.approx({"a": 3 / 7, "b": 3 / 7, "c": 1 / 7, "d": 0.0})
    assert examples_proportional_rates({"x": 5, "y": 15}, cap=10**9) == pytest.approx({"x": 0.25, "y": 0.75})


def test_mix_tasks_follows_the_rates():
    tasks = {"a": list(range(10)), "b": list(range(5)), "c": ["only"]}
    rates = {"a": 0.6, "b": 0.3, "c": 0.1}
    mixed = mix_tasks(tasks, rates, 20_000, random.Random(0))
    share = {name: sum(1 for t, _ in mixed if t == name) / len(mixed) for name in tasks}
    assert share == pytest.approx(rates, abs=0.015)
    assert all(example in tasks[name] for name, example in mixed)
    assert mix_tasks(tasks, rates, 50, random.Random(1)) == mix_tasks(tasks, rates, 50, random.Random(1))


def test_templates_fill_fields_and_are_drawn_at_random():
    templates = [("Add {a} and {b}.", "{s}"), ("What is {a} plus {b}?", "{s}"), ("{s} is the sum of {a} and what?", "{b}")]
    examples = [{"a": a, "b": b, "s": a + b} for a in range(6) for b in range(6)]
    out = format_with_templates(examples, templates, random.Random(0))
    assert {o["template"] for o in out} == {0, 1, 2}
    for example, o in zip(examples, out):
        prompt, completion = templates[o["template"]]
        assert (o["prompt"], o["completion"]) == (prompt.format(**example), completion.format(**example))


# ------------------------------------------------------------------------------------------------
# ROUGE-L and Self-Instruct
# ------------------------------------------------------------------------------------------------


def brute_force_lcs(a, b) -> int:
    """Try every subsequence of the shorter sequence, longest first."""
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    for k in range(len(short), 0, -1):
        for idx in itertools.combinations(range(len(short)), k):
            it = iter(long_)
            if all(any(x == y for y in it) for x in (short[i] for i in idx)):
                return k
    return 0


@pytest.mark.parametrize("seed", range(40))
def test_lcs_equals_brute_force(seed):
    rng = random.Random(seed)
    alphabet = "ab" if seed % 2 else "abcde"
    a = [rng.choice(alphabet) for _ in range(rng.randint(0, 9))]
    b = [rng.choice(alphabet) for _ in range(rng.randint(0, 9))]
    assert lcs_length(a, b) == brute_force_lcs(a, b) == lcs_length(b, a)


def test_rouge_l_worked_examples_of_lin_2004():
    """Section 3.1: reference S1, candidates S2, S3 and S4, with beta = 1."""
    s1 = "police killed the gunman"
    s2, s3, s4 = "police kill the gunman", "the gunman kill police", "the gunman police killed"
    assert rouge_l(s2, s1).fmeasure == pytest.approx(3 / 4)  # LCS "police the gunman"
    assert rouge_l(s3, s1).fmeasure == pytest.approx(2 / 4)  # LCS "the gunman"
    assert rouge_l(s4, s1).fmeasure == pytest.approx(rouge_l(s3, s1).fmeasure)  # only one of the two LCSes counts


@pytest.mark.parametrize("seed", range(20))
def test_rouge_l_formula_and_properties(seed):
    rng = random.Random(seed)
    cand = [rng.choice(WORDS) for _ in range(rng.randint(1, 8))]
    ref = [rng.choice(WORDS) for _ in range(rng.randint(1, 8))]
    lcs = brute_force_lcs(cand, ref)
    beta = rng.choice([0.5, 1.0, 2.0])
    score = rouge_l(cand, ref, beta=beta)
    r, p = lcs / len(ref), lcs / len(cand)
    assert score.recall == pytest.approx(r) and score.precision == pytest.approx(p)
    assert score.fmeasure == pytest.approx((1 + beta**2) * r * p / (r + beta**2 * p) if lcs else 0.0)
    assert rouge_l(cand, ref).fmeasure == pytest.approx(rouge_l(ref, cand).fmeasure)  # F1 is symmetric
    assert 0.0 <= score.fmeasure <= 1.0
    assert rouge_l(cand, cand).fmeasure == pytest.approx(1.0)


def test_rouge_tokenize_is_rouge_score_default():
    assert rouge_tokenize("Write a Haiku -- about the SEA, in 3 lines!") == ["write", "a", "haiku", "about", "the", "sea",
                                                                            "in", "3", "lines"]
    assert rouge_tokenize("naïve café") == ["na", "ve", "caf"]  # only a-z and 0-9 survive
    assert rouge_l("", "anything").fmeasure == 0.0


def test_instruction_filters_of_self_instruct():
    assert instruction_filter_reason("Give three tips for staying healthy.") is None
    assert instruction_filter_reason("Sort these numbers.") == "too short or too long"
    assert instruction_filter_reason("Describe the image in one sentence.") == "mentions 'image'"
    assert instruction_filter_reason("Write a program that sorts a list.") == "asks for a program"
    assert instruction_filter_reason("- Suggest a name for a boat.") == "starts with punctuation"


def test_self_instruct_keeps_only_novel_instructions():
    seeds = ["Give three tips for staying healthy.", "Translate the sentence into French.",
             "Write a short poem about the sea.", "Summarize the paragraph in one sentence.",
             "List five animals that live in the ocean.", "Explain why the sky is blue.",
             "Suggest a title for a story about a lighthouse.", "Classify the review as positive or negative."]

    def generate(prompt: list[str]) -> list[str]:  # a stand-in: near-copies and recombinations
        return [prompt[0].replace(".", " please."), f"Rewrite this in a formal tone: {prompt[1].lower()}",
                "Name a famous scientist and describe the discovery."]

    result = self_instruct(seeds, generate, rounds=6, rng=random.Random(0))
    kept = [entry for entry in result.log if entry[1]]
    assert [entry[0] for entry in kept] == result.pool
    seen = list(seeds)
    for instruction, was_kept, reason, score, _ in result.log:
        if reason in ("kept", "near-duplicate"):
            best = max(rouge_l(instruction, other).fmeasure for other in seen)
            assert score == pytest.approx(best)
            assert was_kept == (best < 0.7)
        if was_kept:
            seen.append(instruction)
    assert any(entry[2] == "near-duplicate" for entry in result.log) and result.pool


# ------------------------------------------------------------------------------------------------
# Bad input is rejected, naming the argument
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call,error,argument",
    [
        (lambda: alpaca_prompt(3), TypeError, "instruction"),
        (lambda: alpaca_prompt("  "), ValueError, "instruction"),
        (lambda: alpaca_to_prompt_completion({"instruction": "x"}), ValueError, "output"),
        (lambda: alpaca_to_messages(["x"]), TypeError, "example"),
        (lambda: messages_to_prompt_completion({"messages": [{"role": "user", "content": "hi"}]}), ValueError, "assistant"),
        (lambda: sft_dataset_format({"question": "x"}), ValueError, "keys"),
        (lambda: render_chatml([]), ValueError, "messages"),
        (lambda: render_chatml([{"role": "robot", "content": "x"}]), ValueError, "role"),
        (lambda: render_chatml([{"role": "user", "content": 3}]), TypeError, "content"),
        (lambda: token_mask_from_spans([(3, 1)], []), ValueError, "offsets"),
        (lambda: completion_mask("abc", [1]), TypeError, "prompt_ids"),
        (lambda: labels_from_masks([1, 2], [1]), ValueError, "masks"),
        (lambda: labels_from_masks([1, 2], [1, 2]), ValueError, "masks"),
        (lambda: masked_cross_entropy(torch.zeros(1, 3, 4, dtype=torch.long), torch.zeros(1, 3, dtype=torch.long)),
         TypeError, "logits"),
        (lambda: masked_cross_entropy(torch.zeros(1, 3, 4), torch.zeros(1, 3)), TypeError, "labels"),
        (lambda: masked_cross_entropy(torch.zeros(1, 3, 4), torch.zeros(1, 4, dtype=torch.long)), ValueError, "labels"),
        (lambda: masked_cross_entropy(torch.zeros(1, 3, 4), torch.full((1, 3), -100)), ValueError, "labels"),
        (lambda: masked_cross_entropy(torch.zeros(1, 3, 4), torch.zeros(1, 3, dtype=torch.long), "mean"),
         ValueError, "reduction"),
        (lambda: padding_waste([3, 4], 0), ValueError, "batch_size"),
        (lambda: padding_waste([], 2), ValueError, "lengths"),
        (lambda: bfd_bins([3, 9], 8), ValueError, "lengths"),
        (lambda: bfd_bins([3], 0), ValueError, "capacity"),
        (lambda: pack_bfd({"input_ids": [[1, 2]], "labels": [[1]]}, 4), ValueError, "columns"),
        (lambda: pack_bfd({"input_ids": [[1, 2]]}, 0), ValueError, "seq_length"),
        (lambda: pack_wrapped([[1, 2]], 4), TypeError, "columns"),
        (lambda: packed_position_ids([2, -1]), ValueError, "seq_lengths"),
        (lambda: examples_proportional_rates({"a": 1}, 0), ValueError, "cap"),
        (lambda: examples_proportional_rates({"a": -1}, 5), ValueError, "sizes"),
        (lambda: mix_tasks({"a": [1]}, {"b": 1.0}, 3, random.Random(0)), ValueError, "rates"),
        (lambda: mix_tasks({"a": [1]}, {"a": 1.0}, 3, 0), TypeError, "rng"),
        (lambda: format_with_templates([{"a": 1}], [("{b}", "")], random.Random(0)), ValueError, "templates"),
        (lambda: format_with_templates([{"a": 1}], [], random.Random(0)), ValueError, "templates"),
        (lambda: rouge_l("a b", "a", beta=0), ValueError, "beta"),
        (lambda: rouge_l(3, "a"), TypeError, "candidate"),
        (lambda: lcs_length(3, "a"), TypeError, "a"),
        (lambda: rouge_tokenize(None), TypeError, "text"),
        (lambda: self_instruct(["a"] * 8, "not callable", 1, random.Random(0)), TypeError, "generate"),
        (lambda: self_instruct(["a"] * 3, lambda p: [], 1, random.Random(0)), ValueError, "seed_instructions"),
        (lambda: self_instruct(["a"] * 8, lambda p: [], 1, random.Random(0), threshold=1.5), ValueError, "threshold"),
        (lambda: self_instruct(["a"] * 8, lambda p: [], 0, random.Random(0)), ValueError, "rounds"),
    ],
)
def test_bad_input_is_rejected(call, error, argument):
    with pytest.raises(error, match=argument):
        call()
