"""Local corpus search: hybrid of lexical TF-IDF and dense LSA similarity over title + abstract."""

from __future__ import annotations

import threading

import numpy as np

from sovereign.adapters.corpus import Corpus
from sovereign.adapters.embeddings import LsaEmbedder
from sovereign.adapters.vector_index import VectorIndex
from sovereign.graph.state import Paper
from sovereign.text import entities, normalize, paper_names

LEXICAL_WEIGHT = 0.65
NAME_BONUS = 0.15
"""Added to the score of a paper that the query names (e.g. "LoRA" for "LoRA: Low-Rank ...")."""
"""Share of the lexical score in the hybrid score (the rest is the dense LSA cosine)."""


def paper_text(p: Paper) -> str:
    # the title counts twice: it names the method, which is what users ask about
    return f"{p.title}. {p.title}. {p.abstract}"


class LocalSearcher:
    """Searches one corpus. Built once per corpus and process (see :func:`searcher_for`)."""

    def __init__(self, corpus: Corpus, dim: int = 256):
        self.corpus = corpus
        self.papers = list(corpus.papers)
        texts = [paper_text(p) for p in self.papers]
        self.embedder = LsaEmbedder(texts, dim=dim)
        # the embedder's fitted TF-IDF doubles as the lexical model
        self.lexical = self.embedder.vectorizer
        self.matrix = self.embedder.fitted_matrix
        self.index = VectorIndex(self.embedder.svd_rows())
        self.names: dict[str, list[int]] = {}
        for i, p in enumerate(self.papers):
            for name in paper_names(p.title, p.abstract):
                self.names.setdefault(name, []).append(i)

    def scores(self, query: str) -> np.ndarray:
        """Hybrid relevance of every corpus paper to ``query`` (0..1)."""
        lex = (self.matrix @ self.lexical.transform([query]).T).toarray().ravel()
        dense = np.zeros(len(self.papers), dtype=np.float32)
        sims, ids = self.index.search(self.embedder.embed_query(query), len(self.papers))
        dense[ids[0]] = np.clip(sims[0], 0.0, 1.0)
        scores = LEXICAL_WEIGHT * lex + (1 - LEXICAL_WEIGHT) * dense
        for ent in entities(query):
            for i in self.names.get(normalize(ent), ()):
                scores[i] += NAME_BONUS
        return scores

    def search(self, query: str, k: int) -> list[tuple[Paper, float]]:
        scores = self.scores(query)
        top = np.argsort(-scores, kind="stable")[:k]
        return [(self.papers[i], float(scores[i])) for i in top if scores[i] > 0]


_lock = threading.Lock()
_searchers: dict[tuple[str, int, int], LocalSearcher] = {}


def searcher_for(corpus: Corpus, dim: int = 256) -> LocalSearcher:
    key = (corpus.path, id(corpus), dim)
    with _lock:
        if key not in _searchers:
            if len(_searchers) >= 4:
                _searchers.pop(next(iter(_searchers)))
            _searchers[key] = LocalSearcher(corpus, dim=dim)
        return _searchers[key]
