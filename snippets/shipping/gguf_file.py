"""A tiny model written as a GGUF file with the `gguf` package's GGUFWriter, read back with its GGUFReader,
and parsed again byte by byte with our own `struct` reader, which agrees on every field and tensor."""

# --8<-- [start:write]
import tempfile
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType, GGUFReader, GGUFWriter
from gguf.quants import dequantize, quantize

from genai_guide.gguf_blocks import GGML_TYPES, dequantize_q4_0, dequantize_q8_0, read_gguf

rng = np.random.default_rng(0)
d_model, vocab = 64, 96
tensors = {  # llama.cpp's tensor names; numpy shapes are (rows, columns)
    "token_embd.weight": (0.02 * rng.standard_normal((vocab, d_model))).astype(np.float32),
    "blk.0.attn_norm.weight": np.ones(d_model, dtype=np.float32),
    "blk.0.attn_qkv.weight": (0.02 * rng.standard_normal((3 * d_model, d_model))).astype(np.float32),
    "blk.0.ffn_up.weight": (0.02 * rng.standard_normal((4 * d_model, d_model))).astype(np.float32),
}
types = {"blk.0.attn_qkv.weight": GGMLQuantizationType.Q8_0, "blk.0.ffn_up.weight": GGMLQuantizationType.Q4_0}

path = Path(tempfile.mkdtemp()) / "tiny.gguf"
writer = GGUFWriter(path, arch="gpt2")  # writes general.architecture = "gpt2"
writer.add_name("tiny-gpt2")
writer.add_context_length(128)  # the key gpt2.context_length
writer.add_embedding_length(d_model)
writer.add_block_count(1)
writer.add_token_list([f"t{i}" for i in range(vocab)])  # tokenizer.ggml.tokens, an array of strings
for name, value in tensors.items():
    if name in types:  # quantized: the writer takes the block bytes and the ggml type
        writer.add_tensor(name, quantize(value, types[name]), raw_dtype=types[name])
    else:  # F32 (norm weights stay in float32, as llama.cpp keeps them)
        writer.add_tensor(name, value)
writer.write_header_to_file()
writer.write_kv_data_to_file()
writer.write_tensors_to_file()
writer.close()
raw = path.read_bytes()
print(f"{path.name}: {len(raw):,} bytes; first 24: {raw[:24].hex(' ')}")
# --8<-- [end:write]

# --8<-- [start:reader]
reader = GGUFReader(path)
meta = {name: field.contents() for name, field in reader.fields.items() if not name.startswith("GGUF.")}
for name, value in meta.items():
    shown = f"[{len(value)} strings] {value[:3]} ..." if isinstance(value, list) else repr(value)
    print(f"  {name:25s} {reader.fields[name].types[0].name:7s} {shown}")
for t in reader.tensors:  # t.shape is in ggml's order: innermost dimension first
    values = t.data if t.tensor_type == GGMLQuantizationType.F32 else dequantize(t.data, t.tensor_type)
    original = tensors[t.name]
    err = np.abs(values - original).max()
    print(f"  {t.name:22s} {t.tensor_type.name:4s} ggml dims {t.shape.tolist()!s:10s} "
          f"at byte {t.data_offset:5d}, {t.n_bytes:6,d} bytes, max error {err:.5f}")
    if t.name not in types:
        assert np.array_equal(values, original)
# --8<-- [end:reader]

# --8<-- [start:ours]
ours = read_gguf(path)  # header, metadata and tensor infos with struct only
print(f"magic GGUF, version {ours.version}, {ours.tensor_count} tensors, {ours.kv_count} key-value pairs, "
      f"alignment {ours.alignment}, data section at byte {ours.data_offset}")
assert ours.metadata == meta and ours.data_offset == reader.data_offset
for info, t in zip(ours.tensors, reader.tensors, strict=True):
    kind, per_block, block_bytes = GGML_TYPES[info.type_id]
    n_bytes = int(np.prod(info.dims)) // per_block * block_bytes
    start = ours.data_offset + info.offset  # a multiple of the alignment
    assert start % ours.alignment == 0 and start == t.data_offset and info.name == t.name
    assert info.dims == tuple(t.shape.tolist()) and kind == t.tensor_type.name
    blob = np.frombuffer(raw, dtype=np.uint8, count=n_bytes, offset=start)
    rows = blob.reshape(info.dims[1], -1) if len(info.dims) == 2 else blob
    if kind == "F32":
        values = rows.view(np.float32)
    else:
        values = {"Q8_0": dequantize_q8_0, "Q4_0": dequantize_q4_0}[kind](rows)
    assert np.array_equal(values, dequantize(t.data, t.tensor_type))
    print(f"  {info.name:22s} offset {info.offset:5d} + {ours.data_offset} = byte {start:5d}: decoded equal")
# --8<-- [end:ours]
del reader, t  # GGUFReader memory-maps the file: let it go before deleting it
path.unlink()
path.parent.rmdir()
