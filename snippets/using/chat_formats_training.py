"""Two silent mistakes in chat training data, detected on the token ids: a doubled BOS, and
assistant turns without the EOS token that ends them."""

# --8<-- [start:bos]
import transformers

from genai_guide.chat_formats import (
    FORMATS,
    diagnose_chat_ids,
    find_double_bos,
    format_llama2,
    tiny_chat_tokenizer,
)

transformers.logging.set_verbosity_error()
chat = [
    {"role": "user", "content": "Is the lighthouse open?"},
    {"role": "assistant", "content": "Only in summer."},
    {"role": "user", "content": "And the museum?"},
    {"role": "assistant", "content": "Every day."},
]
# Like Llama's tokenizer, this one puts <s> in front whenever add_special_tokens=True (the default).
tokenizer = tiny_chat_tokenizer([format_llama2(chat)], chat_template=FORMATS["llama2"].template,
                                add_bos_token=True)
text = format_llama2(chat)  # the template already starts with <s>

doubled = tokenizer(text).input_ids
right = tokenizer(text, add_special_tokens=False).input_ids
via_template = tokenizer.apply_chat_template(chat)["input_ids"]  # renders, then tokenizes without adding
assert via_template == right
bos = tokenizer.bos_token_id
print("tokenizer(text)                          starts", doubled[:4], "double BOS at", find_double_bos(doubled, bos))
print("tokenizer(text, add_special_tokens=False) starts", right[:4], "double BOS at", find_double_bos(right, bos))
print("diagnose:", diagnose_chat_ids(doubled, chat, "llama2", tokenizer))
# --8<-- [end:bos]

# --8<-- [start:eos]
hand_made = "".join(f"<s>[INST] {q['content']} [/INST] {a['content']}" for q, a in zip(chat[::2], chat[1::2]))
hand_ids = tokenizer(hand_made, add_special_tokens=False).input_ids
print("\nhand-made training text:", hand_made)
print("diagnose:", diagnose_chat_ids(hand_ids, chat, "llama2", tokenizer))
print("formatted with the template, diagnose:", diagnose_chat_ids(right, chat, "llama2", tokenizer))
# --8<-- [end:eos]
