"""FAISS adapter: an exact inner-product index over L2-normalised vectors (cosine)."""

from __future__ import annotations

import numpy as np


class VectorIndex:
    def __init__(self, vectors: np.ndarray):
        import faiss

        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.dim = int(vectors.shape[1]) if vectors.ndim == 2 and vectors.size else 0
        self.size = int(vectors.shape[0]) if vectors.ndim == 2 else 0
        self._index = faiss.IndexFlatIP(max(self.dim, 1))
        if self.size:
            self._index.add(vectors)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, row ids) for each query row; ids are -1 where fewer than k exist."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if not self.size:
            n = queries.shape[0]
            return np.zeros((n, 0), dtype=np.float32), np.zeros((n, 0), dtype=np.int64)
        return self._index.search(queries, min(k, self.size))
