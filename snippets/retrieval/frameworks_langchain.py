"""The RAG chain and the agent of the earlier chapters rebuilt with LangChain's core package: a retriever
runnable around the book's BM25, a prompt template, a stand-in chat model and a parser composed with `|`,
checked equal to the plain code; then tools made with `@tool`, their schemas compared with the book's,
and the agent's tool calls replayed through LangChain's messages."""

# --8<-- [start:plain]
from genai_guide.conversation import extractive_answer
from genai_guide.knowledge_base import load_labelled_set
from genai_guide.reranking import DEFAULT_INSTRUCTIONS, assemble_prompt
from genai_guide.sparse import BM25, tokenize

kb = load_labelled_set()  # the harbour guide: 44 passages
bm25 = BM25([tokenize(d) for d in kb.documents])
question = "How much does a visiting yacht pay in harbour dues?"

hits = bm25.search(tokenize(question), 3)  # 1. retrieve: [(row, score)], best first
passages = [kb.passages[i].document for i, _ in hits]
prompt_text = assemble_prompt(question, passages)  # 2. the numbered-sources prompt
answer = extractive_answer(passages, question)  # 3. the answering model (an extractive stand-in)
print("plain code:", [kb.passages[i].id for i, _ in hits], "->", answer)
# --8<-- [end:plain]

# --8<-- [start:chain]
import re

from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.prompts import PromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnablePassthrough


class BM25Retriever(BaseRetriever):
    """A retriever runnable around the book's BM25: a question in, the k best passages as Documents out."""

    k: int = 3

    def _get_relevant_documents(self, query: str, *, run_manager=None) -> list[Document]:
        return [Document(page_content=kb.passages[i].document, id=kb.passages[i].id, metadata={"score": s})
                for i, s in bm25.search(tokenize(query), self.k)]


class ExtractiveChatModel(BaseChatModel):
    """A stand-in chat model: reads the sources and question out of the prompt and answers with the
    best sentence of source [1]. A real model (ChatOpenAI, ChatOllama, ...) goes in the same place."""

    @property
    def _llm_type(self) -> str:
        return "extractive-stand-in"

    def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        prompt = messages[-1].content
        sources = re.findall(r"^\[\d+\] (.*)$", prompt, flags=re.MULTILINE)
        asked = re.search(r"^Question: (.*)$", prompt, flags=re.MULTILINE)[1]
        reply = AIMessage(content=extractive_answer(sources, asked))
        return ChatResult(generations=[ChatGeneration(message=reply)])


def number_sources(docs: list[Document]) -> str:
    return "\n".join(f"[{n}] {' '.join(d.page_content.split())}" for n, d in enumerate(docs, start=1))


template = PromptTemplate.from_template(
    "{instructions}\n\nSources:\n{sources}\n\nQuestion: {question}\nAnswer:"
).partial(instructions=DEFAULT_INSTRUCTIONS)
retriever = BM25Retriever(k=3)
setup = {"sources": retriever | number_sources, "question": RunnablePassthrough()}  # a RunnableParallel
rag_chain = setup | template | ExtractiveChatModel() | StrOutputParser()  # LCEL: prompt | model | parser

print("LangChain: ", rag_chain.invoke(question))
docs = retriever.invoke(question)
assert [d.id for d in docs] == [kb.passages[i].id for i, _ in hits]  # the same passages, same order
assert (setup | template).invoke(question).to_string() == prompt_text  # the same prompt, to the character
assert rag_chain.invoke(question) == answer  # the same answer
print("batch of 2:", rag_chain.batch([question, "Which shop in town sells the Tidewheel?"])[1])
# --8<-- [end:chain]

# --8<-- [start:tools]
import json

from langchain_core.tools import tool
from langchain_core.utils.function_calling import convert_to_openai_tool

from genai_guide.agents import function_schema, knowledge_base_tools

functions = knowledge_base_tools()  # the agent chapter's search (BM25), read_passage, calculate
tools = {f.__name__: tool(f, parse_docstring=True) for f in functions}  # @tool as a function call
langchain_schema = convert_to_openai_tool(tools["search"])
print(json.dumps(langchain_schema["function"]["parameters"]))

for f in functions:  # the same schemas as genai_guide.agents (and transformers' get_json_schema), except:
    ours = function_schema(f)["function"]
    theirs = convert_to_openai_tool(tools[f.__name__])["function"]
    for spec in theirs["parameters"]["properties"].values():
        spec.pop("default", None)  # LangChain adds each default value
    assert theirs == {k: v for k, v in ours.items() if k != "return"}  # and leaves out the return type
# --8<-- [end:tools]

# --8<-- [start:agent]
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import HumanMessage

from genai_guide.agents import ToolCall, ToolRegistry


def call(name: str, n: int, **args) -> dict:
    return {"name": name, "args": args, "id": f"call_{n}", "type": "tool_call"}


task = "How much does a visiting yacht pay in harbour dues for five nights?"
replayed = GenericFakeChatModel(messages=iter([  # the agent chapter's four replies, replayed in order
    AIMessage(content="", tool_calls=[call("search", 1, query=task)]),
    AIMessage(content="", tool_calls=[call("read_passage", 2, passage_id="p12")]),
    AIMessage(content="", tool_calls=[call("calculate", 3, expression="8 * 5")]),
    AIMessage(content="A visiting yacht pays 40 crowns for five nights [p12]."),
]))
registry = ToolRegistry(functions)
messages = [HumanMessage(task)]
while True:  # the agent loop, by hand: LangChain supplies the message types, not the loop
    reply = replayed.invoke(messages)
    messages.append(reply)
    if not reply.tool_calls:
        break
    for tc in reply.tool_calls:
        observation = tools[tc["name"]].invoke(tc)  # a ToolMessage carrying the call's id
        messages.append(observation)
        ours = registry.execute(ToolCall(tc["name"], tc["args"]))["content"]  # the book's executor
        shown = observation.content if isinstance(observation.content, str) else json.dumps(observation.content)
        print(f"{tc['name']:>12} -> {shown[:64]}{'...' if len(shown) > 64 else ''}")
        assert observation.tool_call_id == tc["id"] and shown == ours
print("answer:", messages[-1].content)
assert [type(m).__name__ for m in messages] == ["HumanMessage"] + ["AIMessage", "ToolMessage"] * 3 + ["AIMessage"]
# --8<-- [end:agent]
