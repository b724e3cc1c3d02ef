"""FAISS adapter: an exact inner-product index over L2-normalised vectors (cosine).

Why exact (``IndexFlatIP``) at every corpus size this kernel handles: the local search scores
*every* paper (the dense cosine is fused with the lexical score, and a paper strong on one side
only must not vanish), so it needs all n similarities, not a top-k. A flat index gives them in one
pass of n x dim multiply-adds over its storage (:meth:`VectorIndex.similarities`); graph (HNSW)
or clustered (IVF) indexes only speed up top-k search, are approximate (results after a load
could differ from a fresh build unless their training is persisted too) and cost memory (HNSW
adds ~64 links per vector). Measured on 2 cores (bench/README.md): 100k x 256 float32 is 98 MB,
the full similarity pass takes 3-9 ms and a whole local search 6-14 ms, so flat stays the right
choice well past 100k papers; at ~1M papers (1 GB of vectors, ~50 ms a pass) an IVF index with a
persisted quantiser and a lexical candidate set would become worth it. The index is saved and
read with FAISS's own binary format (``faiss.write_index`` / ``read_index``), never with pickle.
"""

from __future__ import annotations

import os

import numpy as np

KIND = "faiss.IndexFlatIP (exact cosine on L2-normalised vectors)"


class VectorIndex:
    def __init__(self, vectors: np.ndarray | None = None, *, _index=None):
        import faiss

        if _index is not None:
            self._index = _index
            self.dim = int(_index.d) if _index.ntotal else 0
            self.size = int(_index.ntotal)
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.dim = int(vectors.shape[1]) if vectors.ndim == 2 and vectors.size else 0
        self.size = int(vectors.shape[0]) if vectors.ndim == 2 else 0
        self._index = faiss.IndexFlatIP(max(self.dim, 1))
        if self.size:
            self._index.add(vectors)

    kind = KIND

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, row ids) for each query row; ids are -1 where fewer than k exist."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if not self.size:
            n = queries.shape[0]
            return np.zeros((n, 0), dtype=np.float32), np.zeros((n, 0), dtype=np.int64)
        return self._index.search(queries, min(k, self.size))

    def _stored(self) -> np.ndarray:
        """The flat index's own vector storage as a read-only numpy view (no copy)."""
        import faiss

        view = faiss.rev_swig_ptr(self._index.get_xb(), self.size * self.dim).reshape(self.size, self.dim)
        view.flags.writeable = False
        return view

    def similarities(self, query: np.ndarray) -> np.ndarray:
        """Cosine of one query with every stored vector, in row order (float32, length ``size``):
        one matrix-vector product over the index's storage (3 ms at 100k x 256 on 2 cores, where
        ``search(query, size)`` takes ~30 ms keeping a heap of every result)."""
        if not self.size:
            return np.zeros(0, dtype=np.float32)
        return self._stored() @ np.ascontiguousarray(query, dtype=np.float32).ravel()

    def vectors(self) -> np.ndarray:
        """A copy of the stored vectors (size x dim)."""
        if not self.size:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._stored().copy()

    # ------------------------------------------------------------------ persistence

    def save(self, path: str | os.PathLike) -> None:
        """Write the index in FAISS's binary format (the caller makes the write atomic)."""
        import faiss

        faiss.write_index(self._index, os.fspath(path))

    @classmethod
    def load(cls, path: str | os.PathLike, *, dim: int | None = None, size: int | None = None) -> "VectorIndex":
        """Read an index written by :meth:`save`. Raises ``ValueError`` when it is not a flat
        inner-product index or its shape is not the expected one (a stale or swapped file)."""
        import faiss

        index = faiss.read_index(os.fspath(path))
        if not isinstance(index, faiss.IndexFlatIP):
            raise ValueError(f"unexpected FAISS index type {type(index).__name__}")
        if dim is not None and index.d != max(dim, 1):
            raise ValueError(f"index dimension {index.d} != {dim}")
        if size is not None and index.ntotal != size:
            raise ValueError(f"index holds {index.ntotal} vectors, expected {size}")
        return cls(_index=index)
