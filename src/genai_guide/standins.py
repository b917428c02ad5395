"""Offline stand-ins for the classic datasets: the same splits, columns and label names as the
Hugging Face Hub versions, with a few hand-written rows.

Code written against a stand-in runs unchanged on the real dataset, because the schema (the
`datasets.Features`) is identical; only the rows and the split sizes differ. The
[datasets page](../datasets.md) shows both the network call and the stand-in.

Example:
    >>> from genai_guide.standins import standin
    >>> imdb = standin("imdb")
    >>> imdb["train"].features["label"].names
    ['neg', 'pos']
"""

from __future__ import annotations

from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

__all__ = ["FEATURES", "HUB_IDS", "standin"]

_TREC_COARSE = ["ABBR", "ENTY", "DESC", "HUM", "LOC", "NUM"]
_TREC_FINE = [
    "ABBR:abb", "ABBR:exp", "ENTY:animal", "ENTY:body", "ENTY:color", "ENTY:cremat", "ENTY:currency",
    "ENTY:dismed", "ENTY:event", "ENTY:food", "ENTY:instru", "ENTY:lang", "ENTY:letter", "ENTY:other",
    "ENTY:plant", "ENTY:product", "ENTY:religion", "ENTY:sport", "ENTY:substance", "ENTY:symbol",
    "ENTY:techmeth", "ENTY:termeq", "ENTY:veh", "ENTY:word", "DESC:def", "DESC:desc", "DESC:manner",
    "DESC:reason", "HUM:gr", "HUM:ind", "HUM:title", "HUM:desc", "LOC:city", "LOC:country", "LOC:mount",
    "LOC:other", "LOC:state", "NUM:code", "NUM:count", "NUM:date", "NUM:dist", "NUM:money", "NUM:ord",
    "NUM:other", "NUM:period", "NUM:perc", "NUM:speed", "NUM:temp", "NUM:volsize", "NUM:weight",
]
_DBPEDIA = ["Company", "EducationalInstitution", "Artist", "Athlete", "OfficeHolder", "MeanOfTransportation",
            "Building", "NaturalPlace", "Village", "Animal", "Plant", "Album", "Film", "WrittenWork"]

#: The Hub's features of each dataset (for GLUE, of its SST-2 and MRPC tasks; for WikiText, of wikitext-2-raw-v1).
FEATURES: dict[str, Features] = {
    "imdb": Features({"text": Value("string"), "label": ClassLabel(names=["neg", "pos"])}),
    "yelp_review_full": Features({
        "label": ClassLabel(names=["1 star", "2 star", "3 stars", "4 stars", "5 stars"]), "text": Value("string")}),
    "ag_news": Features({"text": Value("string"), "label": ClassLabel(names=["World", "Sports", "Business", "Sci/Tech"])}),
    "dbpedia_14": Features({"label": ClassLabel(names=_DBPEDIA), "title": Value("string"), "content": Value("string")}),
    "trec": Features({"text": Value("string"), "coarse_label": ClassLabel(names=_TREC_COARSE),
                      "fine_label": ClassLabel(names=_TREC_FINE)}),
    "glue/sst2": Features({"sentence": Value("string"), "label": ClassLabel(names=["negative", "positive"]),
                           "idx": Value("int32")}),
    "glue/mrpc": Features({"sentence1": Value("string"), "sentence2": Value("string"),
                           "label": ClassLabel(names=["not_equivalent", "equivalent"]), "idx": Value("int32")}),
    "wikitext": Features({"text": Value("string")}),
}

#: Where each dataset lives on the Hugging Face Hub (id and configuration), for `datasets.load_dataset`.
HUB_IDS: dict[str, tuple[str, str | None]] = {
    "imdb": ("stanfordnlp/imdb", None),
    "yelp_review_full": ("Yelp/yelp_review_full", None),
    "ag_news": ("fancyzhx/ag_news", None),
    "dbpedia_14": ("fancyzhx/dbpedia_14", None),
    "trec": ("CogComp/trec", None),
    "glue/sst2": ("nyu-mll/glue", "sst2"),
    "glue/mrpc": ("nyu-mll/glue", "mrpc"),
    "wikitext": ("Salesforce/wikitext", "wikitext-2-raw-v1"),
}

_ROWS: dict[str, dict[str, list[dict]]] = {
    "imdb": {
        "train": [{"text": "A slow, muddled plot and wooden acting. I checked my watch twice.", "label": 0},
                  {"text": "Warm, funny and beautifully shot; the cast is superb.", "label": 1},
                  {"text": "The twist is telegraphed from the first scene.", "label": 0},
                  {"text": "I laughed, I cried, I would watch it again tomorrow.", "label": 1}],
        "test": [{"text": "Not even the soundtrack could save it.", "label": 0},
                 {"text": "A small film with a big heart.", "label": 1}],
        "unsupervised": [{"text": "Saw it on a plane; have opinions.", "label": -1}],
    },
    "yelp_review_full": {
        "train": [{"label": 0, "text": "Cold food, rude staff, never again."},
                  {"label": 2, "text": "Fine for a quick lunch, nothing special."},
                  {"label": 4, "text": "Best ramen in town, and the staff remember your order."}],
        "test": [{"label": 3, "text": "Good coffee, slow service."}],
    },
    "ag_news": {
        "train": [{"text": "Central bank holds rates steady as inflation eases.", "label": 2},
                  {"text": "Home side wins the derby with a late penalty.", "label": 1},
                  {"text": "New chip doubles battery life in laptops, maker says.", "label": 3},
                  {"text": "Leaders meet to discuss a ceasefire.", "label": 0}],
        "test": [{"text": "Startup raises funds to build cheaper satellites.", "label": 3}],
    },
    "dbpedia_14": {
        "train": [{"label": 9, "title": "Red fox", "content": "The red fox is the largest of the true foxes."},
                  {"label": 12, "title": "A Quiet Harbour", "content": "A Quiet Harbour is a 1998 drama film."}],
        "test": [{"label": 0, "title": "Acme Widgets", "content": "Acme Widgets is a maker of small machine parts."}],
    },
    "trec": {
        "train": [{"text": "How far is it from Denver to Aspen ?", "coarse_label": 5, "fine_label": 40},
                  {"text": "Who wrote Hamlet ?", "coarse_label": 3, "fine_label": 29},
                  {"text": "What does NASA stand for ?", "coarse_label": 0, "fine_label": 1}],
        "test": [{"text": "What city hosted the 1992 Summer Olympics ?", "coarse_label": 4, "fine_label": 32}],
    },
    "glue/sst2": {
        "train": [{"sentence": "a gorgeous, witty film ", "label": 1, "idx": 0},
                  {"sentence": "the plot is nowhere ", "label": 0, "idx": 1}],
        "validation": [{"sentence": "it 's a charming and often affecting journey . ", "label": 1, "idx": 0}],
        "test": [{"sentence": "an unremarkable sequel . ", "label": -1, "idx": 0}],
    },
    "glue/mrpc": {  # MRPC's test labels are public, so its test split is labelled too
        "train": [{"sentence1": "The company said profits rose 5 percent in the quarter .",
                   "sentence2": "Quarterly profits rose 5 percent , the company said .", "label": 1, "idx": 0},
                  {"sentence1": "The bill passed the senate on Tuesday .",
                   "sentence2": "The senate will vote on the bill next week .", "label": 0, "idx": 1}],
        "validation": [{"sentence1": "He left the firm in 2001 .", "sentence2": "He quit the firm in 2001 .",
                        "label": 1, "idx": 0}],
        "test": [{"sentence1": "Shares fell 2 percent .", "sentence2": "The shares closed higher .",
                  "label": 0, "idx": 0}],
    },
    "wikitext": {
        "train": [{"text": ""}, {"text": " = Valkyria Chronicles = \n"},
                  {"text": " The game is a tactical role @-@ playing game . \n"}],
        "validation": [{"text": " = Homarus gammarus = \n"}],
        "test": [{"text": " = Robert Boulter = \n"}],
    },
}


def standin(name: str) -> DatasetDict:
    """A few rows of `name` with the Hub version's splits and features, built offline.

    Args:
        name: one of `FEATURES`' keys: "imdb", "yelp_review_full", "ag_news", "dbpedia_14", "trec",
            "glue/sst2", "glue/mrpc", "wikitext".

    Returns:
        A `datasets.DatasetDict` with the same split names and `Features` as
        `datasets.load_dataset(*HUB_IDS[name])`. Unlabelled test rows use label -1, as on the Hub.

    Raises:
        ValueError: if `name` is not a known dataset.
    """
    if name not in FEATURES:
        raise ValueError(f"name must be one of {sorted(FEATURES)}, got {name!r}")
    features = FEATURES[name]
    return DatasetDict({split: Dataset.from_list(rows, features=features) for split, rows in _ROWS[name].items()})
