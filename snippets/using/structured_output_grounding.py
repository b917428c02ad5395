"""A grounded-answer check: every quote must be in the cited document, every number in a quote."""

# --8<-- [start:grounding]
from pydantic import BaseModel

from genai_guide.constrained import check_grounding

documents = [
    "The Harbour Light was built in 1887. Its lamp burned paraffin until 1921.",
    "The keepers left in 1964, when the light was automated. Visitors may climb the tower in summer.",
]


class Citation(BaseModel):
    doc: int
    quote: str


class CitedAnswer(BaseModel):  # the JSON a model is asked for: an answer and its supporting quotes
    answer: str
    citations: list[Citation]


# Two answers written by hand for this example (no model is run): one faithful, one not.
faithful = CitedAnswer.model_validate_json(
    '{"answer": "It was built in 1887 and automated in 1964.", "citations": ['
    '{"doc": 0, "quote": "The Harbour Light was built in 1887."},'
    '{"doc": 1, "quote": "the keepers left in 1964, when the light was automated."}]}')
invented = CitedAnswer.model_validate_json(
    '{"answer": "It was built in 1887 and automated in 1958.", "citations": ['
    '{"doc": 0, "quote": "The Harbour Light was built in 1887 by Thomas Stevenson."},'
    '{"doc": 1, "quote": "the light was automated"}]}')

for name, reply in [("faithful", faithful), ("invented", invented)]:
    report = check_grounding(reply.answer, [(c.doc, c.quote) for c in reply.citations], documents)
    print(f"{name}: grounded={report.grounded}")
    for problem in report.problems:
        print("  -", problem)
# --8<-- [end:grounding]
