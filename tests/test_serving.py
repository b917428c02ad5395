"""genai_guide.serving: the paged KV cache, continuous batching and the OpenAI-compatible server.

Exact (in float64, token for token): the continuous batcher's greedy tokens against
`genai_guide.gpt.generate_greedy` and `genai_guide.decoding.greedy_search`, one request at a time, for
requests of different prompt lengths and `max_new_tokens` that join and leave the batch; its logits
against the full forward pass of `GPT`. The paged cache's gathered keys and values against a
contiguous cache; the block accounting under random operations. The server against the official
`openai` client, non-streaming and streaming, on loopback only.
"""

from __future__ import annotations

import json
import math
import random
import urllib.request

import pytest
import torch

from genai_guide.decoding import greedy_search
from genai_guide.gpt import GPT, GPTConfig, generate_greedy
from genai_guide.serving import (
    CompletionServer,
    ContinuousBatcher,
    OutOfBlocksError,
    PagedKVCache,
    Request,
    arithmetic_intensity,
)
from genai_guide.sizing import decoder_params

VOCAB = 40


@pytest.fixture(scope="module")
def model() -> GPT:
    torch.manual_seed(0)
    config = GPTConfig(vocab_size=VOCAB, context_length=32, d_model=32, n_layers=2, n_heads=4)
    return GPT(config).to(torch.float64).eval()


def _requests(n: int, seed: int, eos: int | None = None) -> list[Request]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        prompt = [rng.randrange(VOCAB) for _ in range(rng.randint(1, 10))]
        out.append(Request(f"r{i}", prompt, rng.randint(1, 10), eos))
    return out


# ---- arithmetic intensity ------------------------------------------------------------------------------


def test_arithmetic_intensity_is_two_tokens_per_byte_per_weight():
    n = decoder_params(32000, 4096, 32, 32, 11008, 4096, tied=False, bias=False, learned_positions=False,
                       gated_mlp=True, norm="rmsnorm")
    assert arithmetic_intensity(n, 1) == 1.0  # 16-bit weights, one token: 2 FLOPs per 2 bytes
    assert arithmetic_intensity(n, 64) == 64.0
    assert arithmetic_intensity(n, 1, bytes_per_param=0.5) == 4.0
    assert arithmetic_intensity(n, 8, other_bytes=2 * n) == pytest.approx(16 * n / (4 * n))
    with pytest.raises(ValueError, match="tokens"):
        arithmetic_intensity(n, 0)
    with pytest.raises(TypeError, match="n_params"):
        arithmetic_intensity(1.5, 1)
    with pytest.raises(ValueError, match="bytes_per_param"):
        arithmetic_intensity(n, 1, bytes_per_param=0)
    with pytest.raises(ValueError, match="other_bytes"):
        arithmetic_intensity(n, 1, other_bytes=-1)


# ---- the paged cache --------------------------------------------------------------------------------


def test_gathered_keys_and_values_equal_a_contiguous_cache():
    gen = torch.Generator().manual_seed(0)
    cache = PagedKVCache(n_blocks=20, block_size=3, n_layers=2, n_heads=2, head_dim=4, dtype=torch.float64)
    contiguous: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {}
    for step, (sid, n) in enumerate([("a", 4), ("b", 1), ("a", 1), ("c", 7), ("b", 5), ("a", 3), ("c", 1)]):
        k = torch.randn(2, 2, n, 4, generator=gen, dtype=torch.float64)
        v = torch.randn(2, 2, n, 4, generator=gen, dtype=torch.float64)
        start = cache.append(sid, k, v)
        contiguous.setdefault(sid, []).append((k, v))
        assert start == sum(x[0].shape[2] for x in contiguous[sid][:-1])
        if step == 4:  # blocks of the three sequences interleave in the pool
            assert [cache.block_table(s) for s in "abc"] == [[0, 1], [2, 6], [3, 4, 5]]
    for sid, parts in contiguous.items():
        for layer in range(2):
            keys, values = cache.gather(sid, layer)
            assert torch.equal(keys, torch.cat([k[layer] for k, _ in parts], dim=1))
            assert torch.equal(values, torch.cat([v[layer] for _, v in parts], dim=1))


def test_freed_blocks_return_to_the_pool_and_are_reused():
    cache = PagedKVCache(n_blocks=6, block_size=4, n_layers=1, n_heads=1, head_dim=2)
    cache.extend("a", 9)  # 3 blocks
    cache.extend("b", 4)  # 1 block
    assert cache.num_free_blocks == 2 and cache.block_table("a") == [0, 1, 2]
    with pytest.raises(OutOfBlocksError, match="needs 3 more blocks"):
        cache.extend("b", 9)
    assert cache.length("b") == 4 and cache.num_free_blocks == 2  # all or nothing
    assert cache.free("a") == [0, 1, 2]
    assert cache.num_free_blocks == 5 and cache.sequences == ["b"]
    cache.extend("c", 5)
    assert cache.block_table("c") == [0, 1]  # the freed blocks, handed out again
    cache.extend("d", 0)  # an empty sequence holds no block and gathers nothing
    assert cache.block_table("d") == [] and cache.gather("d", 0)[0].shape == (1, 0, 2)


@pytest.mark.parametrize("seed", range(5))
def test_block_accounting_under_random_operations(seed):
    """Property: every block is either free or in exactly one table, each table holds
    ceil(length / block_size) blocks, and a refused extend changes nothing."""
    rng = random.Random(seed)
    n_blocks, block_size = rng.randint(1, 12), rng.randint(1, 5)
    cache = PagedKVCache(n_blocks, block_size, 1, 1, 1)
    lengths: dict[int, int] = {}
    for _ in range(200):
        if lengths and rng.random() < 0.25:
            sid = rng.choice(sorted(lengths))
            cache.free(sid)
            del lengths[sid]
        else:
            sid, n = rng.randrange(6), rng.randint(0, 2 * block_size)
            before = (cache.num_free_blocks, {s: cache.block_table(s) for s in cache.sequences})
            needed = cache.blocks_needed(sid, n)
            if needed > cache.num_free_blocks:
                with pytest.raises(OutOfBlocksError):
                    cache.extend(sid, n)
                assert before == (cache.num_free_blocks, {s: cache.block_table(s) for s in cache.sequences})
            else:
                assert cache.extend(sid, n) == lengths.get(sid, 0)
                lengths[sid] = lengths.get(sid, 0) + n
        held = [b for s in cache.sequences for b in cache.block_table(s)]
        assert len(held) == len(set(held)) and len(held) + cache.num_free_blocks == n_blocks
        assert sorted(held + cache._free) == list(range(n_blocks))
        for s, length in lengths.items():
            assert cache.length(s) == length and len(cache.block_table(s)) == math.ceil(length / block_size)


def test_cache_rejects_bad_input_by_name():
    cache = PagedKVCache(4, 2, 2, 2, 3, dtype=torch.float64)
    cache.extend("a", 2)
    k = torch.zeros(2, 2, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="n_blocks"):
        PagedKVCache(0, 2, 1, 1, 1)
    with pytest.raises(TypeError, match="block_size"):
        PagedKVCache(2, 2.0, 1, 1, 1)
    with pytest.raises(TypeError, match="dtype"):
        PagedKVCache(2, 2, 1, 1, 1, dtype=torch.int64)
    with pytest.raises(ValueError, match="seq_id 'z'"):
        cache.gather("z", 0)
    with pytest.raises(ValueError, match="layer"):
        cache.write("a", 2, 0, k, k)
    with pytest.raises(ValueError, match="keys must have shape"):
        cache.write("a", 0, 0, k[:1], k[:1])
    with pytest.raises(TypeError, match="values must have the pool's dtype"):
        cache.write("a", 0, 0, k, k.float())
    with pytest.raises(ValueError, match="beyond"):
        cache.write("a", 0, 1, k, k)
    with pytest.raises(ValueError, match="keys must have shape"):
        cache.append("a", k, k)
    with pytest.raises(ValueError, match="n_tokens"):
        cache.extend("a", -1)


# ---- continuous batching -----------------------------------------------------------------------------


@pytest.mark.parametrize(("max_batch_size", "n_blocks", "block_size"), [(3, 12, 4), (8, 40, 1), (2, 6, 16)])
def test_batched_tokens_equal_one_request_at_a_time(model, max_batch_size, n_blocks, block_size):
    requests = _requests(7, seed=max_batch_size)
    batcher = ContinuousBatcher(model, n_blocks=n_blocks, block_size=block_size, max_batch_size=max_batch_size)
    for r in requests:
        batcher.submit(r)
    out = batcher.run()
    for r in requests:
        ref = generate_greedy(model, torch.tensor([r.prompt]), r.max_new_tokens)[0, len(r.prompt):]
        assert out[r.request_id] == ref.tolist(), r
    assert batcher.cache.num_free_blocks == n_blocks and batcher.cache.sequences == []
    assert all(len(h.running) <= max_batch_size for h in batcher.history)
    joined = [set(b.running) - set(a.running) for a, b in zip(batcher.history, batcher.history[1:])]
    assert any(joined), "new requests joined a running batch"


def test_end_of_sequence_stops_a_request_like_greedy_search(model):
    first = ContinuousBatcher(model, n_blocks=40, block_size=4)
    probe = _requests(6, seed=11)
    for r in probe:
        first.submit(r)
    free_run = first.run()
    eos = next(ids[1] for ids in free_run.values() if len(ids) > 2)  # a token that does come up
    requests = _requests(6, seed=11, eos=eos)
    batcher = ContinuousBatcher(model, n_blocks=40, block_size=4, max_batch_size=3)
    for r in requests:
        batcher.submit(r)
    out = batcher.run()
    stopped = 0
    for r in requests:
        ref = greedy_search(model, torch.tensor([r.prompt]), r.max_new_tokens, eos_token_id=eos)[0, len(r.prompt):]
        assert out[r.request_id] == ref.tolist()
        stopped += out[r.request_id][-1] == eos and len(out[r.request_id]) < r.max_new_tokens
    assert stopped >= 1


def test_batched_logits_equal_the_full_forward_pass(model):
    batcher = ContinuousBatcher(model, n_blocks=16, block_size=3)
    prompts = {"a": [1, 5, 7, 2, 9], "b": [3], "c": [4, 4, 8]}
    logits = batcher._forward(list(prompts.items()))  # three prefills in one pass
    for i, p in enumerate(prompts.values()):
        torch.testing.assert_close(logits[i], model(torch.tensor([p]))[0, -1], rtol=0, atol=1e-12)
    logits = batcher._forward([("b", [6]), ("a", [0])])  # then a decode step for two of them
    torch.testing.assert_close(logits[0], model(torch.tensor([[3, 6]]))[0, -1], rtol=0, atol=1e-12)
    torch.testing.assert_close(logits[1], model(torch.tensor([[1, 5, 7, 2, 9, 0]]))[0, -1], rtol=0, atol=1e-12)


def test_admission_waits_for_blocks_and_never_runs_out(model):
    batcher = ContinuousBatcher(model, n_blocks=4, block_size=4, max_batch_size=8)
    for i in range(4):
        batcher.submit(Request(f"r{i}", [1, 2, 3, 4, 5], 4))  # worst case 8 tokens: 2 blocks each
    batcher.run()
    assert max(len(h.running) for h in batcher.history) == 2  # 4 blocks hold two such requests
    assert min(h.free_blocks for h in batcher.history) >= 0 and len(batcher.finished) == 4


def test_batcher_rejects_bad_requests_by_name(model):
    batcher = ContinuousBatcher(model, n_blocks=4, block_size=4)
    with pytest.raises(TypeError, match="model"):
        ContinuousBatcher(torch.nn.Linear(2, 2), n_blocks=4)
    with pytest.raises(ValueError, match="max_new_tokens"):
        Request("x", [1], 0)
    with pytest.raises(ValueError, match="prompt"):
        Request("x", [], 1)
    with pytest.raises(TypeError, match="prompt"):
        Request("x", "abc", 1)
    with pytest.raises(ValueError, match="token ids must lie"):
        batcher.submit(Request("x", [VOCAB], 1))
    with pytest.raises(ValueError, match="context_length"):
        batcher.submit(Request("x", [1] * 30, 4))
    with pytest.raises(ValueError, match="needs 5 blocks"):
        batcher.submit(Request("x", [1] * 17, 4))
    batcher.submit(Request("x", [1], 1))
    with pytest.raises(ValueError, match="already used"):
        batcher.submit(Request("x", [2], 1))


# ---- the OpenAI-compatible server --------------------------------------------------------------------

ALPHABET = "abcdefghijklmnopqrstuvwxyz :\n.,?!'ABCDE"  # 40 characters, one per token id


def _encode(text: str) -> list[int]:
    return [ALPHABET.index(ch) for ch in text]


def _decode(ids: list[int]) -> str:
    return "".join(ALPHABET[i] for i in ids)


def test_openai_client_against_the_server(model):
    from openai import BadRequestError, OpenAI

    prompt = "the keeper"
    expected = _decode(generate_greedy(model, torch.tensor([_encode(prompt)]), 6)[0, len(prompt):].tolist())
    chat_prompt = "user: hi\nassistant: "
    chat_expected = _decode(generate_greedy(model, torch.tensor([_encode(chat_prompt)]), 5)[0, len(chat_prompt):].tolist())
    with CompletionServer(model, _encode, _decode, model_name="tiny", block_size=4) as server:
        assert server.base_url.startswith("http://127.0.0.1:")
        client = OpenAI(base_url=server.base_url, api_key="unused", max_retries=0, timeout=60)
        assert [m.id for m in client.models.list()] == ["tiny"]

        completion = client.completions.create(model="tiny", prompt=prompt, max_tokens=6)
        assert completion.object == "text_completion" and completion.choices[0].text == expected
        assert completion.choices[0].finish_reason == "length"
        assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (len(prompt), 6)

        stream = client.completions.create(model="tiny", prompt=prompt, max_tokens=6, stream=True)
        pieces = [chunk.choices[0].text for chunk in stream]
        assert "".join(pieces) == expected and len(pieces) == 6

        chat = client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "hi"}],
                                              max_tokens=5)
        assert chat.choices[0].message.role == "assistant" and chat.choices[0].message.content == chat_expected
        stream = client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "hi"}],
                                                max_tokens=5, stream=True)
        chunks = list(stream)
        assert chunks[0].choices[0].delta.role == "assistant"
        assert "".join(c.choices[0].delta.content or "" for c in chunks) == chat_expected
        assert chunks[-1].choices[0].finish_reason == "length" and chunks[-1].object == "chat.completion.chunk"

        with pytest.raises(BadRequestError, match="cannot tokenize"):
            client.completions.create(model="tiny", prompt="\u00e9", max_tokens=2)
        with pytest.raises(BadRequestError, match="max_tokens"):
            client.completions.create(model="tiny", prompt=prompt, max_tokens=40)


def test_server_streams_server_sent_events_and_batches_concurrent_requests(model):
    import concurrent.futures

    with CompletionServer(model, _encode, _decode, block_size=4, max_batch_size=4) as server:
        def post(prompt: str, stream: bool) -> bytes:
            body = json.dumps({"model": "m", "prompt": prompt, "max_tokens": 4, "stream": stream}).encode()
            req = urllib.request.Request(server.base_url + "/completions", body, {"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=60) as response:
                assert response.headers["Content-Type"] == ("text/event-stream" if stream else "application/json")
                return response.read()

        raw = post("abc", True).decode()
        events = raw.split("\n\n")
        assert events[-2:] == ["data: [DONE]", ""] and all(e.startswith("data: ") for e in events[:-1])
        chunks = [json.loads(e[len("data: "):]) for e in events[:-2]]
        assert [c["choices"][0]["finish_reason"] for c in chunks] == [None, None, None, "length"]
        real_step, opened = server.engine.step, []

        def gated_step():  # the batcher waits until all four requests have arrived, then runs them together
            if not opened and len(server.engine.waiting) < 4:
                server._cond.wait(timeout=0.01)  # called with the lock held: release it while waiting
                return []
            opened.append(True)
            return real_step()

        server.engine.step = gated_step
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda p: json.loads(post(p, False)), ["abc", "hello", "x", "the end"]))
        for prompt, answer in zip(["abc", "hello", "x", "the end"], answers):
            ids = generate_greedy(model, torch.tensor([_encode(prompt)]), 4)[0, len(prompt):].tolist()
            assert answer["choices"][0]["text"] == _decode(ids)
        assert max(len(h.running) for h in server.engine.history) == 4  # concurrent requests shared iterations


def test_server_answers_errors_in_the_openai_shape(model):
    import urllib.error

    with CompletionServer(model, _encode, _decode, n_blocks=2, block_size=4) as server:
        def status(path: str, body: dict | None) -> tuple[int, dict]:
            data = None if body is None else json.dumps(body).encode()
            req = urllib.request.Request(server.base_url + path, data, {"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=60) as response:
                    return response.status, json.loads(response.read())
            except urllib.error.HTTPError as error:
                return error.code, json.loads(error.read())

        code, body = status("/completions", {"prompt": "abcdefghij", "max_tokens": 4})  # 4 blocks, pool of 2
        assert code == 400 and "needs 4 blocks" in body["error"]["message"]
        assert body["error"]["type"] == "invalid_request_error"
        assert status("/completions", {"prompt": "ab", "max_tokens": 2, "n": 2})[1]["error"]["param"] == "n"
        assert status("/chat/completions", {"messages": []})[1]["error"]["param"] == "messages"
        assert status("/embeddings", {"input": "x"})[0] == 404
        assert status("/completions", {"prompt": "ab", "max_tokens": 3})[0] == 200  # and it still serves

