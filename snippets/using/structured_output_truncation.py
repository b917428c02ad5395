"""What a context-window limit does to long inputs: right, left and middle-out truncation, pairs, and
chats, checked against the tokenizer's own truncation."""

# --8<-- [start:single]
import transformers

from genai_guide.chat_formats import CHATML_TEMPLATE, tiny_chat_tokenizer
from genai_guide.constrained import fit_chat, truncate_ids, truncate_middle, truncate_pair

transformers.logging.set_verbosity_error()
story = "at dusk the keeper climbed the stairs , lit the lamp , and wrote the time in the log"
question = "when was the lamp lit ?"
tokenizer = tiny_chat_tokenizer([story, question, "... system user assistant Answer briefly"],
                                chat_template=CHATML_TEMPLATE)
ids = tokenizer(story, add_special_tokens=False).input_ids
show = lambda ids: " ".join(tokenizer.convert_ids_to_tokens(ids))
print(f"{len(ids)} tokens, max_length 8")
for side in ("right", "left"):
    ours = truncate_ids(ids, 8, side)
    tokenizer.truncation_side = side
    assert ours == tokenizer(story, truncation=True, max_length=8, add_special_tokens=False).input_ids
    print(f"  {side:6} (cuts the {'end' if side == 'right' else 'start'}): {show(ours)}")
tokenizer.truncation_side = "right"
print(f"  middle-out: {show(truncate_middle(ids, 8, marker=tokenizer.convert_tokens_to_ids(['...'])))}")
# --8<-- [end:single]

# --8<-- [start:pair]
q_ids = tokenizer(question, add_special_tokens=False).input_ids
print(f"\nquestion ({len(q_ids)} tokens) + story ({len(ids)} tokens), max_length 10")
for strategy in ("longest_first", "only_second"):
    q_cut, s_cut = truncate_pair(q_ids, ids, 10, strategy)
    reference = tokenizer(question, story, truncation=strategy, max_length=10, add_special_tokens=False)
    assert q_cut + s_cut == reference.input_ids
    print(f"  {strategy:13}: {show(q_cut)} | {show(s_cut)}")
# --8<-- [end:pair]

# --8<-- [start:chat]
chat = [{"role": "system", "content": "Answer briefly"}]
for line in story.split(" , "):
    chat += [{"role": "user", "content": line}, {"role": "assistant", "content": "ok"}]
chat.append({"role": "user", "content": question})
chat_ids = tokenizer.apply_chat_template(chat, add_generation_prompt=True)["input_ids"]
count = lambda messages: len(tokenizer.apply_chat_template(messages, add_generation_prompt=True)["input_ids"])
limit = 32
print(f"\nchat of {len(chat)} messages, {len(chat_ids)} tokens, limit {limit}")
left = truncate_ids(chat_ids, limit, "left")
right = truncate_ids(chat_ids, limit, "right")
print("  left-truncated ids keep the system prompt:  ", "Answer" in tokenizer.convert_ids_to_tokens(left))
print("  right-truncated ids keep the question:      ", "when" in tokenizer.convert_ids_to_tokens(right))
kept = fit_chat(chat, count, limit)
print(f"  fit_chat keeps {len(kept)} messages, {count(kept)} tokens:", [m["content"] for m in kept])
# --8<-- [end:chat]
