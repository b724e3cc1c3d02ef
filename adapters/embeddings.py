"""Embedding adapters: the offline LSA embedder (no download) and NVIDIA NIM embeddings.

Both return L2-normalised float32 matrices, so inner product == cosine in the FAISS index.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Protocol, Sequence

import numpy as np

from sovereign.text import normalize


class Embedder(Protocol):
    name: str

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


def l2_normalize(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float32)
    if matrix.ndim == 1:
        matrix = matrix[None, :]
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return matrix / norms


def make_tfidf(ngram_range=(1, 2), **kwargs):
    """The project's one TF-IDF configuration (acronym-aware preprocessing)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(preprocessor=normalize, ngram_range=ngram_range, **kwargs)


class LsaEmbedder:
    """Offline embeddings: TF-IDF (word 1-2-grams, sublinear tf) projected by truncated SVD (LSA).

    Deterministic (fixed seed) and fitted on the local corpus, so it downloads nothing.
    """

    def __init__(self, fit_texts: Sequence[str], dim: int = 256, seed: int = 0):
        from sklearn.decomposition import TruncatedSVD

        self.vectorizer = make_tfidf(sublinear_tf=True, stop_words="english", min_df=1, max_features=200_000)
        x = self.vectorizer.fit_transform(list(fit_texts))
        self.fitted_matrix = x
        k = max(2, min(dim, x.shape[0] - 1, x.shape[1] - 1))
        # ARPACK is exact and, on corpora of a few thousand documents, faster than the randomized solver
        algorithm = "arpack" if x.shape[0] <= 5000 else "randomized"
        self.svd = TruncatedSVD(n_components=k, random_state=seed, algorithm=algorithm)
        self._rows = self.svd.fit_transform(x)
        self.dim = k
        self.name = f"offline-lsa-{k}d (TF-IDF 1-2-gram + truncated SVD, fitted on the local corpus)"

    def svd_rows(self) -> np.ndarray:
        """Embeddings of the texts the model was fitted on (computed during the fit)."""
        return l2_normalize(self._rows)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return l2_normalize(self.svd.transform(self.vectorizer.transform(list(texts))))

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]


@lru_cache(maxsize=4)
def _lsa_for(key: str, texts: tuple[str, ...], dim: int) -> LsaEmbedder:
    return LsaEmbedder(texts, dim=dim)


def lsa_embedder(texts: Sequence[str], dim: int = 256) -> LsaEmbedder:
    """A process-wide cached LSA embedder fitted on ``texts``."""
    t = tuple(texts)
    key = hashlib.sha1("\x1e".join(t).encode()).hexdigest()
    return _lsa_for(key, t, dim)
