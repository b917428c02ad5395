"""Serving a language model: a paged KV cache, continuous batching and an OpenAI-compatible server.

The chapter [Serving](../../shipping/serving.md) explains each piece.

- `arithmetic_intensity`: floating-point operations per byte moved by one forward pass, the number
  that says why decoding one token at a time is limited by memory bandwidth, not by arithmetic.
- `PagedKVCache`: the memory manager of PagedAttention (Kwon et al., *Efficient Memory Management
  for Large Language Model Serving with PagedAttention*, SOSP 2023): keys and values live in a pool of
  fixed-size blocks, each sequence has a block table that maps its positions to blocks, blocks are
  taken from the pool only when a sequence grows into them and go back when it finishes.
- `ContinuousBatcher`: iteration-level scheduling (Yu et al., *Orca*, OSDI 2022). Every iteration
  admits waiting requests, runs one forward pass over the new tokens of every running request (a
  whole prompt for a request just admitted, one token for the others), and retires the requests that
  finished, so a new request never waits for a whole batch. It runs the book's
  `genai_guide.gpt.GPT` with the same weights, attention going through the paged cache, and gives
  the tokens of greedy decoding one request at a time (the tests check this token for token).
- `CompletionServer`: the batcher behind `/v1/models`, `/v1/completions` and `/v1/chat/completions`
  in the shape of the OpenAI API, streaming included (server-sent events), on the standard library's
  `http.server`, so that the official `openai` client can call it.
"""

from __future__ import annotations

import itertools
import json
import math
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

import torch
import torch.nn.functional as F
from torch import Tensor

from genai_guide._checks import check_int as _check_int
from genai_guide.gpt import GPT

__all__ = [
    "CompletionServer",
    "ContinuousBatcher",
    "OutOfBlocksError",
    "PagedKVCache",
    "Request",
    "StepRecord",
    "TokenEvent",
    "arithmetic_intensity",
]


def arithmetic_intensity(n_params: int, tokens: int, bytes_per_param: float = 2.0, other_bytes: float = 0.0) -> float:
    """FLOPs per byte of memory traffic of one forward pass over `tokens` tokens.

    Every weight takes part in one multiply-add per token, $2N$ FLOPs per token, and is read from
    memory once per pass however many tokens the pass holds:

    $$I = \\frac{2\\,N\\,T}{N\\,b + B_{other}},$$

    with $T$ the tokens in the pass (the prompt for a prefill, the batch size for a decoding step),
    $b$ the bytes per weight and $B_{other}$ any other bytes read, such as the KV cache. Attention's
    own FLOPs and the activations are left out: for short contexts they are small next to the
    weights. A pass is memory-bound when $I$ is below the accelerator's FLOP/s divided by its bytes/s.

    Args:
        n_params: parameters $N$ (e.g. from `genai_guide.sizing.decoder_params`).
        tokens: tokens processed by the pass $T$.
        bytes_per_param: bytes per weight $b$ (2 for 16-bit weights).
        other_bytes: other bytes read by the pass (KV cache), $B_{other}$.

    Raises:
        TypeError: `n_params` or `tokens` is not an int.
        ValueError: a count is not positive, or a byte count is negative.
    """
    _check_int("n_params", n_params, 1)
    _check_int("tokens", tokens, 1)
    for name, value in (("bytes_per_param", bytes_per_param), ("other_bytes", other_bytes)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not bytes_per_param > 0:
        raise ValueError(f"bytes_per_param must be > 0, got {bytes_per_param}")
    if other_bytes < 0:
        raise ValueError(f"other_bytes must be >= 0, got {other_bytes}")
    return 2 * n_params * tokens / (n_params * bytes_per_param + other_bytes)


# ---- the paged KV cache ----------------------------------------------------------------------------


class OutOfBlocksError(RuntimeError):
    """The block pool has too few free blocks for what was asked."""


class PagedKVCache:
    """Keys and values of many sequences in a shared pool of fixed-size blocks (PagedAttention).

    The pool holds `n_blocks` blocks of `block_size` token slots for every layer; the keys of
    layer $\\ell$ are `k[l]`, of shape `(n_blocks, n_heads, block_size, head_dim)`, and the values
    `v[l]` the same. A sequence's **block table** lists its blocks in order, so its position $p$
    lives in block `table[p // block_size]` at slot `p % block_size` (Kwon et al. 2023, section 4.1).
    A sequence takes a new block from the pool only when it grows past its last one and returns all
    of them when freed, so at most `block_size - 1` slots per sequence are allocated but empty,
    instead of everything between its length and the longest length it could reach.

    Args:
        n_blocks: blocks in the pool.
        block_size: token slots per block.
        n_layers: layers of the model.
        n_heads: key/value heads per layer.
        head_dim: width of one head.
        dtype: floating dtype of the pool.
        device: where the pool lives.

    Raises:
        TypeError: a size is not an int, or `dtype` is not a floating dtype.
        ValueError: a size is not positive.
    """

    def __init__(self, n_blocks: int, block_size: int, n_layers: int, n_heads: int, head_dim: int, *,
                 dtype: torch.dtype = torch.float32, device: torch.device | str | None = None) -> None:
        for name, value in (("n_blocks", n_blocks), ("block_size", block_size), ("n_layers", n_layers),
                            ("n_heads", n_heads), ("head_dim", head_dim)):
            _check_int(name, value, 1)
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
        self.n_blocks, self.block_size = n_blocks, block_size
        self.n_layers, self.n_heads, self.head_dim = n_layers, n_heads, head_dim
        shape = (n_layers, n_blocks, n_heads, block_size, head_dim)
        self.k = torch.zeros(shape, dtype=dtype, device=device)  # the key pool
        self.v = torch.zeros(shape, dtype=dtype, device=device)  # the value pool
        self._free = list(range(n_blocks - 1, -1, -1))  # a stack: pop() hands out 0, 1, 2, ... first
        self._tables: dict[Hashable, list[int]] = {}
        self._lengths: dict[Hashable, int] = {}

    # -- accounting

    @property
    def num_free_blocks(self) -> int:
        """Blocks in the pool that no sequence holds."""
        return len(self._free)

    @property
    def sequences(self) -> list[Hashable]:
        """The ids of the sequences in the cache, in the order they were added."""
        return list(self._tables)

    def _known(self, seq_id: Hashable) -> None:
        if seq_id not in self._tables:
            raise ValueError(f"seq_id {seq_id!r} is not in the cache")

    def length(self, seq_id: Hashable) -> int:
        """Tokens stored for `seq_id`."""
        self._known(seq_id)
        return self._lengths[seq_id]

    def block_table(self, seq_id: Hashable) -> list[int]:
        """The blocks of `seq_id`, in the order of its positions (a copy)."""
        self._known(seq_id)
        return list(self._tables[seq_id])

    def blocks_needed(self, seq_id: Hashable, n_tokens: int) -> int:
        """New blocks that storing `n_tokens` more tokens for `seq_id` would take (a new id has none)."""
        _check_int("n_tokens", n_tokens, 0)
        length = self._lengths.get(seq_id, 0)
        held = len(self._tables.get(seq_id, ()))
        return max(0, math.ceil((length + n_tokens) / self.block_size) - held)

    # -- growing, writing, reading, freeing

    def extend(self, seq_id: Hashable, n_tokens: int) -> int:
        """Make room for `n_tokens` more tokens of `seq_id` (a new id starts a sequence).

        Takes the blocks it needs from the pool, all or none.

        Returns:
            The position of the first new token: the sequence's length before the call.

        Raises:
            OutOfBlocksError: if the pool has fewer free blocks than needed (nothing changes).
        """
        needed = self.blocks_needed(seq_id, n_tokens)
        if needed > len(self._free):
            raise OutOfBlocksError(f"seq_id {seq_id!r} needs {needed} more blocks, the pool has {len(self._free)} free")
        table = self._tables.setdefault(seq_id, [])
        table.extend(self._free.pop() for _ in range(needed))
        start = self._lengths.get(seq_id, 0)
        self._lengths[seq_id] = start + n_tokens
        return start

    def _slots(self, seq_id: Hashable, start: int, n: int) -> tuple[Tensor, Tensor]:
        table = torch.tensor(self._tables[seq_id], dtype=torch.long, device=self.k.device)
        positions = torch.arange(start, start + n, device=self.k.device)
        return table[positions // self.block_size], positions % self.block_size  # (n,) blocks, (n,) slots

    def write(self, seq_id: Hashable, layer: int, start: int, keys: Tensor, values: Tensor) -> None:
        """Store the keys and values of positions `start .. start + n - 1` of `seq_id` in `layer`.

        Args:
            seq_id: a sequence already `extend`-ed to at least `start + n` tokens.
            layer: the layer, `0 <= layer < n_layers`.
            start: the first position.
            keys: `(n_heads, n, head_dim)`, in the pool's dtype.
            values: the same shape.

        Raises:
            ValueError: unknown `seq_id`, `layer` out of range, a wrong shape, or positions beyond the
                sequence's length.
            TypeError: `keys` or `values` is not a tensor of the pool's dtype.
        """
        self._known(seq_id)
        self._check_layer(layer)
        _check_int("start", start, 0)
        n = self._check_kv("keys", keys)
        if self._check_kv("values", values) != n:
            raise ValueError(f"values must have the shape of keys {tuple(keys.shape)}, got {tuple(values.shape)}")
        if start + n > self._lengths[seq_id]:
            raise ValueError(f"start + n = {start + n} is beyond the {self._lengths[seq_id]} tokens extended for "
                             f"seq_id {seq_id!r}; call extend first")
        blocks, slots = self._slots(seq_id, start, n)
        self.k[layer][blocks, :, slots] = keys.transpose(0, 1)  # pool[b, :, s] is (n_heads, head_dim)
        self.v[layer][blocks, :, slots] = values.transpose(0, 1)

    def append(self, seq_id: Hashable, keys: Tensor, values: Tensor) -> int:
        """`extend` by `n` tokens and `write` the keys and values of every layer at once.

        Args:
            seq_id: the sequence (a new id starts one).
            keys: `(n_layers, n_heads, n, head_dim)`.
            values: the same shape.

        Returns:
            The position of the first appended token.

        Raises:
            ValueError: a wrong shape.
            TypeError: `keys` or `values` is not a tensor of the pool's dtype.
            OutOfBlocksError: the pool is too small (nothing changes).
        """
        for name, x in (("keys", keys), ("values", values)):
            if not isinstance(x, Tensor):
                raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
            if x.dim() != 4 or x.shape[0] != self.n_layers:
                raise ValueError(f"{name} must have shape (n_layers={self.n_layers}, n_heads, n, head_dim), "
                                 f"got {tuple(x.shape)}")
        self._check_kv("keys", keys[0])
        self._check_kv("values", values[0])
        start = self.extend(seq_id, keys.shape[2])
        for layer in range(self.n_layers):
            self.write(seq_id, layer, start, keys[layer], values[layer])
        return start

    def gather(self, seq_id: Hashable, layer: int) -> tuple[Tensor, Tensor]:
        """The keys and values of `seq_id` in `layer`, read through its block table.

        Returns:
            `(keys, values)`, each `(n_heads, length, head_dim)`: what a contiguous cache would hold.
        """
        self._known(seq_id)
        self._check_layer(layer)
        table = torch.tensor(self._tables[seq_id], dtype=torch.long, device=self.k.device)
        length = self._lengths[seq_id]
        out = []
        for pool in (self.k[layer], self.v[layer]):
            blocks = pool[table]  # (n_table, n_heads, block_size, head_dim)
            flat = blocks.transpose(0, 1).reshape(self.n_heads, len(table) * self.block_size, self.head_dim)
            out.append(flat[:, :length])
        return out[0], out[1]

    def free(self, seq_id: Hashable) -> list[int]:
        """Forget `seq_id` and return its blocks to the pool; returns the freed blocks."""
        self._known(seq_id)
        blocks = self._tables.pop(seq_id)
        del self._lengths[seq_id]
        self._free.extend(reversed(blocks))  # the first block of the table is handed out first again
        return blocks

    # -- input checks

    def _check_layer(self, layer: object) -> None:
        _check_int("layer", layer, 0)
        if layer >= self.n_layers:
            raise ValueError(f"layer must be < n_layers={self.n_layers}, got {layer}")

    def _check_kv(self, name: str, x: object) -> int:
        if not isinstance(x, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
        if x.dtype != self.k.dtype:
            raise TypeError(f"{name} must have the pool's dtype {self.k.dtype}, got {x.dtype}")
        if x.dim() != 3 or x.shape[0] != self.n_heads or x.shape[2] != self.head_dim:
            raise ValueError(f"{name} must have shape (n_heads={self.n_heads}, n, head_dim={self.head_dim}), "
                             f"got {tuple(x.shape)}")
        return x.shape[1]


# ---- continuous batching ------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """A generation request: a prompt of token ids, how many tokens at most, and when to stop.

    Attributes:
        request_id: a name, unique among the requests of one batcher.
        prompt: token ids, at least one.
        max_new_tokens: the most tokens to generate, at least one.
        eos_token_id: generation also stops after this token (it is kept), or `None`.
    """

    request_id: Hashable
    prompt: tuple[int, ...]
    max_new_tokens: int
    eos_token_id: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.prompt, (str, bytes)) or not isinstance(self.prompt, Sequence):
            raise TypeError(f"prompt must be a sequence of token ids, got {type(self.prompt).__name__}")
        object.__setattr__(self, "prompt", tuple(self.prompt))
        if not self.prompt:
            raise ValueError("prompt must hold at least one token id")
        for t in self.prompt:
            _check_int("prompt token id", t, 0)
        _check_int("max_new_tokens", self.max_new_tokens, 1)
        if self.eos_token_id is not None:
            _check_int("eos_token_id", self.eos_token_id, 0)


@dataclass(frozen=True)
class TokenEvent:
    """One generated token: for whom, which, and whether the request is finished.

    `finish_reason` is `"length"` (reached `max_new_tokens`), `"stop"` (generated the end-of-sequence
    token) or `None` (more to come), as in the OpenAI API.
    """

    request_id: Hashable
    token: int
    finish_reason: str | None


@dataclass(frozen=True)
class StepRecord:
    """What one iteration ran: the requests in the batch, and how many of their tokens it processed."""

    running: tuple[Hashable, ...]
    prefill_tokens: int
    decode_tokens: int
    free_blocks: int


@dataclass
class _Sequence:
    request: Request
    generated: list[int] = field(default_factory=list)


class ContinuousBatcher:
    """Greedy generation for many requests at once, with iteration-level scheduling (Orca).

    Each call to `step` is one iteration: it admits waiting requests in arrival order while the
    batch has room (`max_batch_size`) and the pool has blocks for them, runs one forward pass over
    the new tokens of all running requests, appends each request's argmax token, and frees the
    blocks of the requests that finished. Non-attention layers run on all the new tokens together,
    flattened into one matrix; attention runs per request over its own cached keys and values: Orca's
    *selective batching*.

    A request is admitted only when the free blocks cover the worst case of every running request
    and of the new one (prompt plus `max_new_tokens - 1` cached tokens), so no request ever runs out
    of blocks; blocks are still taken one at a time, as sequences grow. (vLLM admits more eagerly and
    preempts a request when the pool runs dry.)

    Args:
        model: a `genai_guide.gpt.GPT`, used in eval mode with its own weights.
        n_blocks: blocks in the KV cache's pool.
        block_size: token slots per block.
        max_batch_size: the most requests in one iteration.

    Raises:
        TypeError: `model` is not a `GPT`, or a size is not an int.
        ValueError: a size is not positive.
    """

    def __init__(self, model: GPT, *, n_blocks: int, block_size: int = 16, max_batch_size: int = 8) -> None:
        if not isinstance(model, GPT):
            raise TypeError(f"model must be a genai_guide.gpt.GPT, got {type(model).__name__}")
        _check_int("max_batch_size", max_batch_size, 1)
        c = model.config
        weight = model.tok_emb.weight
        self.model = model
        self.cache = PagedKVCache(n_blocks, block_size, c.n_layers, c.n_heads, c.d_model // c.n_heads,
                                  dtype=weight.dtype, device=weight.device)
        self.max_batch_size = max_batch_size
        self.waiting: deque[Request] = deque()
        self.running: dict[Hashable, _Sequence] = {}
        self.finished: dict[Hashable, list[int]] = {}
        self.history: list[StepRecord] = []

    @property
    def has_work(self) -> bool:
        """Whether a request is waiting or running."""
        return bool(self.waiting or self.running)

    def _worst_blocks(self, request: Request) -> int:
        return math.ceil((len(request.prompt) + request.max_new_tokens - 1) / self.cache.block_size)

    def submit(self, request: Request) -> None:
        """Queue a request; it starts at a later `step`.

        Raises:
            TypeError: `request` is not a `Request`.
            ValueError: its id is already used, a token id is outside the vocabulary, prompt plus
                `max_new_tokens` exceed the model's context, or it could never fit in the pool.
        """
        if not isinstance(request, Request):
            raise TypeError(f"request must be a Request, got {type(request).__name__}")
        rid, c = request.request_id, self.model.config
        if rid in self.running or rid in self.finished or any(r.request_id == rid for r in self.waiting):
            raise ValueError(f"request.request_id {rid!r} is already used")
        if max(request.prompt) >= c.vocab_size or (request.eos_token_id or 0) >= c.vocab_size:
            raise ValueError(f"request {rid!r}: token ids must lie in [0, {c.vocab_size})")
        if len(request.prompt) + request.max_new_tokens > c.context_length + 1:
            raise ValueError(f"request {rid!r}: prompt ({len(request.prompt)}) + max_new_tokens "
                             f"({request.max_new_tokens}) - 1 exceeds context_length={c.context_length}")
        if self._worst_blocks(request) > self.cache.n_blocks:
            raise ValueError(f"request {rid!r} needs {self._worst_blocks(request)} blocks, the pool has "
                             f"{self.cache.n_blocks}")
        self.waiting.append(request)

    def _admit(self) -> None:
        # blocks the running requests may still take (each was prefilled when it was admitted)
        reserved = sum(self._worst_blocks(s.request) - len(self.cache.block_table(rid))
                       for rid, s in self.running.items())
        while self.waiting and len(self.running) < self.max_batch_size:
            worst = self._worst_blocks(self.waiting[0])
            if self.cache.num_free_blocks - reserved < worst:
                break  # first come, first served: the head of the queue waits for blocks
            request = self.waiting.popleft()
            self.running[request.request_id] = _Sequence(request)
            reserved += worst

    @torch.no_grad()
    def _forward(self, chunks: list[tuple[Hashable, list[int]]]) -> Tensor:
        """Logits after the last new token of each chunk `(seq_id, new token ids)`: `(len(chunks), V)`."""
        model, cache = self.model, self.cache
        d = model.config.d_model
        device = model.tok_emb.weight.device
        starts = [cache.extend(rid, len(ids)) for rid, ids in chunks]  # blocks are taken here, on demand
        ids = torch.tensor([t for _, new in chunks for t in new], device=device)  # (N,) all new tokens
        positions = torch.cat([torch.arange(s, s + len(new), device=device) for s, (_, new) in zip(starts, chunks)])
        x = model.tok_emb(ids) + model.pos_emb(positions)  # (N, d): the tokens of every request, flattened
        for layer, block in enumerate(model.blocks):
            attn = block.attn
            q, k, v = attn.qkv(block.ln_1(x)).split(d, dim=-1)  # three (N, d): batched over all tokens
            q, k, v = (t.view(-1, attn.n_heads, attn.head_dim).transpose(0, 1) for t in (q, k, v))  # (h, N, d_k)
            outs, offset = [], 0
            for (rid, new), start in zip(chunks, starts):  # attention: one request at a time
                n = len(new)
                cache.write(rid, layer, start, k[:, offset:offset + n], v[:, offset:offset + n])
                keys, values = cache.gather(rid, layer)  # (h, start + n, d_k) through the block table
                causal = torch.ones(n, start + n, dtype=torch.bool, device=device).tril(diagonal=start)
                out = F.scaled_dot_product_attention(q[:, offset:offset + n], keys, values, attn_mask=causal)
                outs.append(out.transpose(0, 1).reshape(n, d))  # (n, d): the heads concatenated
                offset += n
            x = x + attn.proj(torch.cat(outs))  # residual around attention, batched again
            x = x + block.mlp(block.ln_2(x))  # the MLP: batched over all tokens
        last = torch.tensor([len(new) for _, new in chunks], device=device).cumsum(0) - 1  # each chunk's last row
        return model.ln_f(x[last]) @ model.tok_emb.weight.T  # (len(chunks), V)

    def step(self) -> list[TokenEvent]:
        """Run one iteration: admit, one forward pass over every running request, retire the finished.

        Returns:
            One `TokenEvent` per running request (empty when there is nothing to do).
        """
        self._admit()
        if not self.running:
            return []
        chunks = []
        for rid, seq in self.running.items():  # a new request feeds its prompt, the others their last token
            chunks.append((rid, list(seq.request.prompt) if not seq.generated else seq.generated[-1:]))
        n_prefill = sum(len(new) for rid, new in chunks if not self.running[rid].generated)
        was_training = self.model.training
        self.model.eval()
        try:
            tokens = self._forward(chunks).argmax(dim=-1).tolist()
        finally:
            self.model.train(was_training)
        self.history.append(StepRecord(tuple(rid for rid, _ in chunks), n_prefill,
                                       len(chunks) - sum(1 for rid, _ in chunks if not self.running[rid].generated),
                                       self.cache.num_free_blocks))
        events = []
        for (rid, _), token in zip(chunks, tokens):
            seq = self.running[rid]
            seq.generated.append(token)
            reason = None
            if token == seq.request.eos_token_id:
                reason = "stop"
            elif len(seq.generated) == seq.request.max_new_tokens:
                reason = "length"
            if reason is not None:
                self.cache.free(rid)
                self.finished[rid] = self.running.pop(rid).generated
            events.append(TokenEvent(rid, token, reason))
        return events

    def run(self) -> dict[Hashable, list[int]]:
        """Step until every request has finished; returns the generated tokens of each request."""
        while self.has_work:
            self.step()
        return dict(self.finished)


# ---- an OpenAI-compatible HTTP server --------------------------------------------------------------


class _BadRequest(ValueError):
    def __init__(self, message: str, param: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.param, self.status = param, status


class CompletionServer:
    """A `ContinuousBatcher` behind an HTTP API in the shape of OpenAI's, on `127.0.0.1`.

    Endpoints: `GET /v1/models`, `POST /v1/completions` (a `prompt` string) and
    `POST /v1/chat/completions` (`messages`, rendered as `role: content` lines followed by
    `assistant: `), with `max_tokens` (default 16) and `stream`. Decoding is always greedy:
    `temperature` and `top_p` are accepted and ignored. With `"stream": true` the answer is a stream
    of server-sent events, `data: {chunk}` each followed by a blank line, ending with
    `data: [DONE]`. Errors come back as `{"error": {"message", "type", "param", "code"}}`.

    One thread runs the batcher; each HTTP request has its own thread (`ThreadingHTTPServer`),
    submits a `Request` and reads its tokens from a queue as the batcher produces them, so requests
    that arrive together share iterations.

    Args:
        model: a `genai_guide.gpt.GPT`.
        encode: text to token ids; raise `ValueError` for text it cannot encode.
        decode: token ids to text.
        model_name: the id under which `/v1/models` lists the model.
        eos_token_id: the end-of-sequence token, or `None`.
        host: the address to listen on (keep it on loopback).
        port: the port; 0 lets the operating system pick a free one.
        n_blocks: blocks in the KV cache's pool (see `ContinuousBatcher`).
        block_size: token slots per block.
        max_batch_size: the most requests in one iteration.

    Use it as a context manager, or call `start` and `close`.
    """

    def __init__(self, model: GPT, encode: Callable[[str], list[int]], decode: Callable[[list[int]], str], *,
                 model_name: str = "genai-guide-tiny-gpt", eos_token_id: int | None = None,
                 host: str = "127.0.0.1", port: int = 0, n_blocks: int = 64, block_size: int = 8,
                 max_batch_size: int = 8) -> None:
        if not callable(encode) or not callable(decode):
            raise TypeError("encode and decode must be callables")
        self.engine = ContinuousBatcher(model, n_blocks=n_blocks, block_size=block_size,
                                        max_batch_size=max_batch_size)
        self.encode, self.decode = encode, decode
        self.model_name, self.eos_token_id = model_name, eos_token_id
        self._cond = threading.Condition()
        self._queues: dict[str, queue.Queue] = {}
        self._stopping = False
        self._counter = 0
        self._response_ids = itertools.count(1)
        self.httpd = ThreadingHTTPServer((host, port), self._handler_class())
        self.httpd.daemon_threads = True
        self._threads: list[threading.Thread] = []

    @property
    def base_url(self) -> str:
        """`http://host:port/v1`, what `openai.OpenAI(base_url=...)` wants."""
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> Self:
        """Start the batcher thread and the HTTP server thread; returns `self`."""
        self._threads = [threading.Thread(target=self._engine_loop, daemon=True),
                         threading.Thread(target=self.httpd.serve_forever, daemon=True)]
        for t in self._threads:
            t.start()
        return self

    def close(self) -> None:
        """Stop serving, stop the batcher and release the port."""
        self.httpd.shutdown()
        self.httpd.server_close()
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for t in self._threads:
            t.join()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the batcher thread

    def _engine_loop(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and not self.engine.has_work:
                    self._cond.wait()
                if self._stopping:
                    return
                try:
                    events = self.engine.step()
                except Exception as error:  # noqa: BLE001 - report to every waiting client, keep serving
                    for q in self._queues.values():
                        q.put(error)
                    self._queues.clear()
                    for rid in self.engine.cache.sequences:
                        self.engine.cache.free(rid)
                    self.engine.waiting.clear()
                    self.engine.running.clear()
                    continue
                for event in events:
                    self._queues[event.request_id].put(event)
                    if event.finish_reason is not None:
                        del self._queues[event.request_id]
                        del self.engine.finished[event.request_id]

    def _generate(self, prompt_ids: list[int], max_tokens: int) -> Iterator[TokenEvent]:
        """Submit a request now; return an iterator over its tokens as the batcher makes them."""
        with self._cond:
            self._counter += 1
            rid = f"req-{self._counter}"
            try:
                self.engine.submit(Request(rid, prompt_ids, max_tokens, self.eos_token_id))
            except ValueError as error:  # e.g. more blocks than the pool holds
                raise _BadRequest(str(error)) from None
            q = self._queues[rid] = queue.Queue()
            self._cond.notify_all()

        def tokens() -> Iterator[TokenEvent]:
            while True:
                item = q.get()
                if isinstance(item, Exception):
                    raise item
                yield item
                if item.finish_reason is not None:
                    return

        return tokens()

    # -- HTTP

    def _parse(self, path: str, body: dict) -> tuple[str, list[int], int, bool]:
        if not isinstance(body, dict):
            raise _BadRequest("the body must be a JSON object")
        if body.get("n", 1) != 1:
            raise _BadRequest("only n=1 is supported", "n")
        max_tokens = body.get("max_tokens", body.get("max_completion_tokens", 16))
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            raise _BadRequest("max_tokens must be a positive integer", "max_tokens")
        if path == "/v1/completions":
            prompt = body.get("prompt")
            if not isinstance(prompt, str) or not prompt:
                raise _BadRequest("prompt must be a non-empty string", "prompt")
            kind, text = "completion", prompt
        else:
            messages = body.get("messages")
            if not isinstance(messages, list) or not messages or not all(
                    isinstance(m, dict) and isinstance(m.get("content"), str) for m in messages):
                raise _BadRequest("messages must be a non-empty list of {role, content} objects", "messages")
            kind = "chat"
            text = "".join(f"{m.get('role', 'user')}: {m['content']}\n" for m in messages) + "assistant: "
        try:
            ids = list(self.encode(text))
        except (ValueError, KeyError) as error:
            raise _BadRequest(f"cannot tokenize the input: {error}", "messages" if kind == "chat" else "prompt") from None
        context = self.engine.model.config.context_length
        if len(ids) + max_tokens - 1 > context:
            raise _BadRequest(f"{len(ids)} prompt tokens + max_tokens {max_tokens} exceed the context of {context}",
                              "max_tokens")
        return kind, ids, max_tokens, bool(body.get("stream", False))

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def _json(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _error(self, error: _BadRequest) -> None:
                kind = "invalid_request_error" if error.status == 400 else "not_found_error"
                self._json(error.status, {"error": {"message": str(error), "type": kind, "param": error.param,
                                                    "code": None}})

            def do_GET(self) -> None:
                if self.path.rstrip("/") == "/v1/models":
                    model = {"id": server.model_name, "object": "model", "created": 0, "owned_by": "genai-guide"}
                    self._json(200, {"object": "list", "data": [model]})
                else:
                    self._error(_BadRequest(f"no such endpoint: GET {self.path}", status=404))

            def do_POST(self) -> None:
                path = self.path.rstrip("/")
                if path not in ("/v1/completions", "/v1/chat/completions"):
                    return self._error(_BadRequest(f"no such endpoint: POST {self.path}", status=404))
                try:
                    length = int(self.headers.get("Content-Length", 0))
                    body = json.loads(self.rfile.read(length) or b"null")
                    kind, ids, max_tokens, stream = server._parse(path, body)
                except json.JSONDecodeError:
                    return self._error(_BadRequest("the body is not valid JSON"))
                except _BadRequest as error:
                    return self._error(error)
                created = int(time.time())
                response_id = f"{'chatcmpl' if kind == 'chat' else 'cmpl'}-{next(server._response_ids)}"
                try:
                    events = server._generate(ids, max_tokens)
                except _BadRequest as error:
                    return self._error(error)
                if stream:
                    self._stream(kind, response_id, created, events)
                else:
                    self._complete(kind, response_id, created, events, len(ids))

            def _complete(self, kind: str, rid: str, created: int, events: Iterator[TokenEvent], n_prompt: int) -> None:
                tokens, reason = [], None
                for event in events:
                    tokens.append(event.token)
                    reason = event.finish_reason
                text = server.decode(tokens)
                if kind == "chat":
                    choice = {"index": 0, "message": {"role": "assistant", "content": text},
                              "finish_reason": reason, "logprobs": None}
                    obj = "chat.completion"
                else:
                    choice = {"index": 0, "text": text, "finish_reason": reason, "logprobs": None}
                    obj = "text_completion"
                usage = {"prompt_tokens": n_prompt, "completion_tokens": len(tokens),
                         "total_tokens": n_prompt + len(tokens)}
                self._json(200, {"id": rid, "object": obj, "created": created, "model": server.model_name,
                                 "choices": [choice], "usage": usage})

            def _stream(self, kind: str, rid: str, created: int, events: Iterator[TokenEvent]) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                obj = "chat.completion.chunk" if kind == "chat" else "text_completion"

                def send(choice: dict) -> None:
                    chunk = {"id": rid, "object": obj, "created": created, "model": server.model_name,
                             "choices": [choice]}
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()

                if kind == "chat":  # the first chunk says who speaks
                    send({"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None,
                          "logprobs": None})
                tokens: list[int] = []
                sent = ""
                for event in events:
                    tokens.append(event.token)
                    text = server.decode(tokens)
                    piece, sent = text[len(sent):], text  # decode the whole text, send what is new
                    if kind == "chat":
                        send({"index": 0, "delta": {"content": piece}, "finish_reason": None, "logprobs": None})
                        if event.finish_reason is not None:
                            send({"index": 0, "delta": {}, "finish_reason": event.finish_reason, "logprobs": None})
                    else:
                        send({"index": 0, "text": piece, "finish_reason": event.finish_reason, "logprobs": None})
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()

        return Handler
