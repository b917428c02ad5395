"""The book's tiny GPT behind an OpenAI-compatible HTTP endpoint on 127.0.0.1, called with the official
`openai` client, without and with streaming, and the server-sent events it streams, byte for byte."""

# --8<-- [start:server]
import http.client
import json

import torch
from openai import OpenAI

from genai_guide.gpt import GPT, GPTConfig, generate_greedy
from genai_guide.serving import CompletionServer
from genai_guide.texts import read_text

chars = sorted(set(read_text("harbour")))  # a character vocabulary: one token id per character
stoi = {ch: i for i, ch in enumerate(chars)}


def encode(text: str) -> list[int]:
    return [stoi[ch] for ch in text]  # a KeyError for an unknown character becomes an HTTP 400


def decode(ids: list[int]) -> str:
    return "".join(chars[i] for i in ids)


torch.set_num_threads(1)
torch.set_default_dtype(torch.float64)  # float64: the same tokens on every CPU
torch.manual_seed(0)
model = GPT(GPTConfig(vocab_size=len(chars), context_length=64, d_model=32, n_layers=2, n_heads=4)).eval()
# untrained: it babbles, which is all a test of the plumbing needs

server = CompletionServer(model, encode, decode, model_name="tiny-gpt", port=0).start()  # port 0: any free port
print("serving on", server.base_url.replace(str(server.httpd.server_address[1]), "<port>"))
# --8<-- [end:server]

# --8<-- [start:client]
client = OpenAI(base_url=server.base_url, api_key="not-needed", max_retries=0)
print("models:", [m.id for m in client.models.list()])

completion = client.completions.create(model="tiny-gpt", prompt="The keeper", max_tokens=8)
print(f"completion: {completion.choices[0].text!r} ({completion.choices[0].finish_reason}, "
      f"{completion.usage.prompt_tokens} + {completion.usage.completion_tokens} tokens)")
alone = generate_greedy(model, torch.tensor([encode("The keeper")]), 8)[0, 10:].tolist()
assert completion.choices[0].text == decode(alone)  # the server's batcher gives greedy decoding's tokens

stream = client.chat.completions.create(model="tiny-gpt", max_tokens=6, stream=True,
                                        messages=[{"role": "user", "content": "hello"}])
for chunk in stream:
    choice = chunk.choices[0]
    print(f"chunk: role={choice.delta.role} content={choice.delta.content!r} finish={choice.finish_reason}")
# --8<-- [end:client]

# --8<-- [start:wire]
conn = http.client.HTTPConnection(*server.httpd.server_address[:2], timeout=30)
conn.request("POST", "/v1/completions", json.dumps({"model": "tiny-gpt", "prompt": "The", "max_tokens": 2,
                                                    "stream": True}), {"Content-Type": "application/json"})
response = conn.getresponse()
print(response.status, response.getheader("Content-Type"))
for event in response.read().decode().split("\n\n")[:-1]:  # each event ends with a blank line
    if event != "data: [DONE]":
        data = json.loads(event.removeprefix("data: "))
        data["id"], data["created"] = "cmpl-...", 0  # these differ from run to run
        event = "data: " + json.dumps(data)
    print(event)
conn.close()
server.close()  # stop the HTTP thread and the batcher, free the port
# --8<-- [end:wire]
