"""Generation use cases on tiny random-weight models: the text-generation pipeline for completion and
chat (a decoder-only model), checked against model.generate + decode, and an encoder-decoder (T5) for
summarization and translation, whose pipelines transformers 5 removed, checked against a greedy loop."""

# --8<-- [start:decoder]
import torch
import transformers
from tokenizers import Tokenizer, decoders, models
from transformers import (
    GPT2Config,
    GPT2LMHeadModel,
    PreTrainedTokenizerFast,
    T5Config,
    T5ForConditionalGeneration,
    pipeline,
)

from genai_guide.sft import CHATML_TEMPLATE

transformers.logging.set_verbosity_error()
torch.set_num_threads(1)
torch.set_default_dtype(torch.float64)  # float64: the same tokens on every CPU

specials = ["<pad>", "<|im_start|>", "<|im_end|>"]
vocab = {t: i for i, t in enumerate(specials + list(" \nabcdefghijklmnopqrstuvwxyz.,?"))}
chars = Tokenizer(models.BPE(vocab=vocab, merges=[]))  # no merges: one token per character
chars.add_special_tokens(specials)
chars.decoder = decoders.Fuse()
tokenizer = PreTrainedTokenizerFast(tokenizer_object=chars, pad_token="<pad>", eos_token="<|im_end|>")
tokenizer.chat_template = CHATML_TEMPLATE

torch.manual_seed(0)
gpt = GPT2LMHeadModel(GPT2Config(vocab_size=len(vocab), n_positions=128, n_embd=32, n_layer=2, n_head=4,
                                 bos_token_id=2, eos_token_id=2, pad_token_id=0, initializer_range=0.3)).eval()  # random weights
generator = pipeline("text-generation", model=gpt, tokenizer=tokenizer)
settings = {"max_new_tokens": 12, "do_sample": False}  # greedy: the same text on every run

prompt = "the harbour"
out = generator(prompt, **settings)
print("completion:", out)
ids = tokenizer(prompt, return_tensors="pt")["input_ids"]  # by hand: tokenize, generate, decode
manual = tokenizer.decode(gpt.generate(ids, attention_mask=torch.ones_like(ids), **settings)[0],
                          skip_special_tokens=True)
assert out == [{"generated_text": manual}]

chat = [{"role": "user", "content": "where is the harbour?"}]
reply = generator(chat, **settings)[0]["generated_text"]
print("chat: a list of", len(reply), "messages, the last one new:", reply[-1])
ids = tokenizer.apply_chat_template(chat, add_generation_prompt=True, return_tensors="pt", return_dict=True)
new = gpt.generate(**ids, **settings)[0, ids["input_ids"].shape[1]:]  # by hand: template, generate, decode the new part
assert reply == chat + [{"role": "assistant", "content": tokenizer.decode(new, skip_special_tokens=True)}]
print("  = apply_chat_template -> generate -> decode; random weights: letters, not an answer")
# --8<-- [end:decoder]


# --8<-- [start:seq2seq]
removed = {}
for task in ["summarization", "translation", "text2text-generation", "question-answering"]:
    try:
        pipeline(task, model=gpt, tokenizer=tokenizer)
    except KeyError as err:  # removed in transformers 5: the message names the replacement
        removed[task] = str(err).split(". ")[1].split(" See")[0]
print("removed tasks:", list(removed), "->", set(removed.values()))

torch.manual_seed(0)
t5 = T5ForConditionalGeneration(T5Config(vocab_size=len(vocab), d_model=32, d_kv=8, d_ff=64, num_layers=2,
                                         num_heads=4, pad_token_id=0, eos_token_id=2,
                                         decoder_start_token_id=0, initializer_factor=10.0)).eval()
document = tokenizer("summarize: the ferry left the harbour at dawn.", return_tensors="pt")
summary = t5.generate(**document, **settings)  # encoder reads the input once; decoder writes token by token
print("encoder-decoder: input", tuple(document["input_ids"].shape), "-> output", tuple(summary.shape),
      repr(tokenizer.decode(summary[0], skip_special_tokens=True)))

with torch.no_grad():  # by hand: encode once, then greedy decoding from the start token
    memory = t5.get_encoder()(**document)
    written = torch.tensor([[t5.config.decoder_start_token_id]])
    for _ in range(settings["max_new_tokens"]):
        logits = t5(encoder_outputs=memory, attention_mask=document["attention_mask"], decoder_input_ids=written).logits
        written = torch.cat([written, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
        if written[0, -1] == t5.config.eos_token_id:
            break
assert torch.equal(summary, written)
print("  = encoder once, then argmax of the decoder's next-token logits, step by step")
# --8<-- [end:seq2seq]
