"""The smallest retrieval-augmented generation pipeline, offline: chunk the story, score every chunk
against a question with a bag-of-words cosine, keep the top 3, and assemble a prompt with numbered
sources for a model to answer from and cite."""

# --8<-- [start:index]
import re
from collections import Counter

import torch

from genai_guide.chunking import recursive_split
from genai_guide.similarity import cosine_scores, top_k_search
from genai_guide.texts import read_text

chunks = recursive_split(read_text("harbour"), chunk_size=200, overlap=0)  # 1. split the knowledge base
STOP = {"the", "a", "and", "to", "was", "of", "in", "it", "what", "who", "did", "with", "that", "when", "how"}


def words(text: str) -> list[str]:
    return [w for w in re.findall(r"[a-z]+", text.lower()) if w not in STOP]


vocabulary = sorted({w for chunk in chunks for w in words(chunk)})
column = {w: j for j, w in enumerate(vocabulary)}


def embed(texts: list[str]) -> torch.Tensor:
    """Texts -> (len(texts), vocabulary) word counts: a crude embedding that the next chapters improve on."""
    vectors = torch.zeros(len(texts), len(vocabulary), dtype=torch.float64)
    for i, text in enumerate(texts):
        for w, count in Counter(words(text)).items():
            if w in column:  # words the corpus never uses cannot match anything
                vectors[i, column[w]] = count
    return vectors


index = embed(chunks)  # 2. embed every chunk once
print(f"{len(chunks)} chunks, vectors of {len(vocabulary)} words")
# --8<-- [end:index]

# --8<-- [start:retrieve]
question = "What did the keeper burn in the lamp during the hardest winter?"
scores, ids = top_k_search(embed([question]), index, k=3)  # 3. the 3 chunks nearest the question
for rank, (s, i) in enumerate(zip(scores[0].tolist(), ids[0].tolist()), start=1):
    print(f"[{rank}] chunk {i:2d}, cosine {s:.2f}: {chunks[i][:60]}...")

from sklearn.feature_extraction.text import CountVectorizer  # the same scores from scikit-learn
from sklearn.metrics.pairwise import cosine_similarity

counts = CountVectorizer(vocabulary=vocabulary, token_pattern=r"[a-z]+")
reference = cosine_similarity(counts.transform([question]), counts.transform(chunks))
torch.testing.assert_close(cosine_scores(embed([question]), index), torch.from_numpy(reference))
assert "whale oil" in chunks[ids[0, 0]]  # the answer is in the best chunk
# --8<-- [end:retrieve]

# --8<-- [start:prompt]
sources = "\n".join(f"[{n}] {chunks[i]}" for n, i in enumerate(ids[0].tolist(), start=1))
prompt = ("Answer the question using only the numbered sources. Cite the sources you use as [1], [2], ...\n"
          "If the sources do not contain the answer, say that you do not know.\n\n"
          f"Sources:\n{sources}\n\nQuestion: {question}\nAnswer:")  # 4. what the model reads
print(prompt)
assert all(f"[{n}] " in prompt for n in (1, 2, 3)) and prompt.endswith("Answer:")
# --8<-- [end:prompt]
