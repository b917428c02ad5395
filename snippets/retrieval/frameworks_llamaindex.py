"""The harbour guide indexed with LlamaIndex's core package, offline: the book's TF-IDF vectors behind a
custom embedding class, a VectorStoreIndex whose top-k equals brute-force cosine search on the same
vectors, a query engine with MockLLM that shows the prompt LlamaIndex writes, and a FunctionTool's schema."""

# --8<-- [start:index]
import numpy as np
from llama_index.core import VectorStoreIndex
from llama_index.core.embeddings import BaseEmbedding
from llama_index.core.schema import TextNode

from genai_guide.knowledge_base import load_labelled_set
from genai_guide.sparse import TfidfIndex
from genai_guide.vector_search import exact_search

kb = load_labelled_set()  # the harbour guide: 44 passages, 30 labelled questions
tfidf = TfidfIndex(kb.documents)  # the book's TF-IDF: unit-length vectors, one column a word


class TfidfEmbedding(BaseEmbedding):
    """An embedding model for LlamaIndex without a download: the book's TF-IDF vectors as lists."""

    def _get_text_embedding(self, text: str) -> list[float]:
        return tfidf.transform([text])[0].tolist()

    def _get_query_embedding(self, query: str) -> list[float]:
        return tfidf.transform([query])[0].tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)


nodes = [TextNode(id_=p.id, text=p.document) for p in kb.passages]  # one node a passage, no re-chunking
index = VectorStoreIndex(nodes, embed_model=TfidfEmbedding())  # embeds the 44 nodes, in memory
retriever = index.as_retriever(similarity_top_k=3)

question = kb.questions[0].text
hits = retriever.retrieve(question)
print(question, "->", [(h.node.node_id, round(h.score, 3)) for h in hits])

ties = 0
for q in kb.questions:  # every question: LlamaIndex's top 3 = brute-force cosine on the same vectors
    found = retriever.retrieve(q.text)
    scores, rows = exact_search(tfidf.transform([q.text]), tfidf.matrix, k=3, metric="ip")
    assert np.allclose([h.score for h in found], scores[0])  # the same 3 scores
    matched = [h.node.node_id for h in found if h.score > 0]  # passages sharing a word with the question
    assert matched == [kb.passages[i].id for i in rows[0][:len(matched)]]  # the same passages, same order
    ties += len(matched) < 3  # the rest score 0: a tie, which the libraries break differently
print(f"top 3 equal to brute force for all {len(kb.questions)} questions ({ties} with ties at score 0)")
# --8<-- [end:index]

# --8<-- [start:engine]
from llama_index.core.llms import MockLLM

engine = index.as_query_engine(llm=MockLLM(), similarity_top_k=2)  # MockLLM echoes its prompt
response = engine.query(question)
print(str(response).rstrip())  # so the answer is the prompt LlamaIndex wrote around the two passages
assert [n.node.node_id for n in response.source_nodes] == [h.node.node_id for h in hits[:2]]
assert str(response).endswith(f"Query: {question}\nAnswer: ")
# --8<-- [end:engine]

# --8<-- [start:tool]
import json

from llama_index.core.tools import FunctionTool

from genai_guide.agents import function_schema, knowledge_base_tools

search = knowledge_base_tools()[0]  # the agent chapter's BM25 search tool
llama_schema = FunctionTool.from_defaults(search).metadata.to_openai_tool()["function"]
print(json.dumps(llama_schema["parameters"]))
print(llama_schema["description"].splitlines()[0])  # the signature, then the whole docstring
ours = function_schema(search)["function"]
assert llama_schema["name"] == ours["name"] and llama_schema["parameters"]["required"] == ours["parameters"]["required"]
assert "description" not in llama_schema["parameters"]["properties"]["query"]  # argument docs stay in the text
assert FunctionTool.from_defaults(search).call(query="harbour dues", k=1).raw_output[0]["id"] == "p12"
# --8<-- [end:tool]
