"""RAG-Sequence and RAG-Token (Lewis et al. 2020) from scratch: the likelihood of an answer from the
retriever's document probabilities p(z|x) and the generator's token probabilities, marginalised over
the documents once per answer or once per token; equal to transformers' RagSequenceForGeneration and
RagTokenForGeneration losses."""

# --8<-- [start:scratch]
import torch

torch.set_default_dtype(torch.float64)


def rag_sequence(doc_probs: torch.Tensor, token_probs: torch.Tensor) -> torch.Tensor:
    """sum_z p(z|x) prod_i p(y_i|x,z,y_<i): one document generates the whole answer."""
    return (doc_probs * token_probs.prod(dim=1)).sum()  # (k,) * (k,) -> scalar


def rag_token(doc_probs: torch.Tensor, token_probs: torch.Tensor) -> torch.Tensor:
    """prod_i sum_z p(z|x) p(y_i|x,z,y_<i): each token may come from another document."""
    return (doc_probs[:, None] * token_probs).sum(dim=0).prod()  # (k, N) -> (N,) -> scalar


doc_probs = torch.softmax(torch.tensor([2.0, 2.0]), dim=0)  # p(z|x) from retriever scores d(z).q(x): 0.5, 0.5
cases = {  # token_probs[z, i] = p(y_i | x, z, y_<i) for a two-token answer
    "doc 1 supports the whole answer": torch.tensor([[0.9, 0.9], [0.1, 0.1]]),
    "each doc supports one token": torch.tensor([[0.9, 0.1], [0.1, 0.9]]),
}
for name, token_probs in cases.items():
    print(f"{name:>32}: RAG-Sequence {rag_sequence(doc_probs, token_probs):.2f}, "
          f"RAG-Token {rag_token(doc_probs, token_probs):.2f}")
# --8<-- [end:scratch]

# --8<-- [start:properties]
g = torch.Generator().manual_seed(0)
for _ in range(100):
    k, n = torch.randint(1, 6, (2,), generator=g).tolist()
    p_z = torch.softmax(torch.randn(k, generator=g), dim=0)
    p_y = torch.rand(k, n, generator=g)
    assert 0 < rag_sequence(p_z, p_y) <= 1 and 0 < rag_token(p_z, p_y) <= 1
    if n == 1 or k == 1:  # a one-token answer (a class label), or a single document: the same model
        torch.testing.assert_close(rag_sequence(p_z, p_y), rag_token(p_z, p_y))
    same = p_y[:1].expand(k, n)  # documents that do not change the generator's probabilities
    torch.testing.assert_close(rag_sequence(p_z, same), rag_token(p_z, same))
print("equal for one-token answers, for one document, and when the documents do not matter")
# --8<-- [end:properties]

# --8<-- [start:transformers]
from transformers import (
    BartConfig,
    DPRConfig,
    RagConfig,
    RagSequenceForGeneration,
    RagTokenForGeneration,
)

generator = BartConfig(vocab_size=16, d_model=8, encoder_layers=1, decoder_layers=1, encoder_attention_heads=1,
                       decoder_attention_heads=1, encoder_ffn_dim=8, decoder_ffn_dim=8, max_position_embeddings=16,
                       pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=2)
retriever = DPRConfig(vocab_size=16, hidden_size=8, num_hidden_layers=1, num_attention_heads=1, intermediate_size=8)
config = RagConfig(question_encoder=retriever.to_dict(), generator=generator.to_dict(), n_docs=3)
rag_seq, rag_tok = RagSequenceForGeneration(config), RagTokenForGeneration(config)  # tiny, untrained

k, vocab = 3, 16
doc_scores = torch.randn(1, k, generator=g)  # retriever scores d(z).q(x) of the top-3 documents
logits = torch.randn(k, 4, vocab, generator=g)  # generator logits for each document, 4 decoder steps
target = torch.tensor([[0, 5, 7, 9]])  # <s> y1 y2 y3: transformers predicts the target shifted left
p_z = torch.softmax(doc_scores[0], dim=0)
p_y = torch.softmax(logits, dim=-1)[:, torch.arange(3), target[0, 1:]]  # (k, 3): p(y_i | x, z, y_<i)

nll_seq, nll_tok = rag_seq.get_nll(logits, doc_scores, target), rag_tok.get_nll(logits, doc_scores, target)
torch.testing.assert_close(-torch.log(rag_sequence(p_z, p_y)), nll_seq[0])
torch.testing.assert_close(-torch.log(rag_token(p_z, p_y)), nll_tok[0])
print(f"-log p(y|x): RAG-Sequence {nll_seq.item():.3f}, RAG-Token {nll_tok.item():.3f}, equal to transformers")
# --8<-- [end:transformers]
