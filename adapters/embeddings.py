"""Embedding adapters: the offline LSA embedder (no download) and NVIDIA NIM embeddings.

Both return L2-normalised float32 matrices, so inner product == cosine in the FAISS index.
"""

from __future__ import annotations

from typing import Iterable, Protocol, Sequence

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
    from sovereign.tfidf import TfidfVectorizer

    return TfidfVectorizer(preprocessor=normalize, ngram_range=ngram_range, **kwargs)


# ----------------------------------------------------------------------------- LSA

MAX_FEATURES = 200_000
"""Vocabulary cap of the LSA / local-search TF-IDF (word 1-2-grams, most frequent kept).

It never binds on the bundled corpus (26.5k terms) and starts to bind around 10k papers (the
generated 100k corpus of the benchmarks has 1.6M distinct 1-2-grams). Its cost is the dense side of
the model, features x dim floats: at 200k x 256 the projection is 205 MB in float32 (410 MB in
float64); the randomized SVD allocates nothing else of that size (it multiplies by X^T in blocks of
:data:`FEATURE_BLOCK` features). The counting pass holds every distinct n-gram once in a dict
before the cap applies (~300 MB at 100k abstracts). Measured 100k build: peak RSS 1.2 GB including
the 0.35 GB of parsed papers (bench/README.md). Documents are sparse, so the cap does not change the
size of the document matrix, only which rare n-grams are dropped (paper names are also matched
through :func:`~sovereign.text.paper_names`, which has no cap)."""
EXACT_SVD_MAX_DOCS = 2000
"""Up to here the truncated SVD is exact (dense eigendecomposition of the n x n Gram matrix, in
float64): the same subspace ARPACK finds, up to rounding, in a fraction of the time (ARPACK took
3 s on the 379 bundled papers and 16 s on 1k papers)."""
FLOAT64_MAX_DOCS = 5000
"""Up to here the TF-IDF matrix and the projection are float64 (as before); above, float32, which
halves the memory of the document matrix and of the dense projection."""
SVD_SAMPLE_DOCS = 20_000
"""Above :data:`EXACT_SVD_MAX_DOCS` the projection is fitted by a randomized SVD (Halko et al.,
4 power iterations, 10 oversamples, fixed seed) on at most this many documents drawn with the
seed; every document is then projected. 20k abstracts estimate 256 latent topics well, and the
fit's cost then stops growing with the corpus: the build is linear (one TF-IDF pass and one
projection of every document)."""
POWER_ITERATIONS = 4
OVERSAMPLES = 10
TFIDF_PARAMS = {"ngram_range": (1, 2), "sublinear_tf": True, "stop_words": "english", "min_df": 1}
LSA_FORMAT = 2
"""Version of the LSA algorithm; part of the on-disk index key (bump it when the model changes)."""

FITS = 0
"""How many LSA models this process has fitted (tests and benchmarks check that a cached index is
loaded, not refitted)."""


def lsa_config(n_docs: int, dim: int, seed: int = 0) -> dict:
    """Everything that determines the fitted model besides the texts (hashed into the cache key)."""
    return {
        "lsa_format": LSA_FORMAT,
        "dim": int(dim),
        "seed": int(seed),
        "tfidf": {**TFIDF_PARAMS, "ngram_range": list(TFIDF_PARAMS["ngram_range"]), "max_features": MAX_FEATURES},
        "dtype": "float64" if n_docs <= FLOAT64_MAX_DOCS else "float32",
        "svd": "exact" if n_docs <= EXACT_SVD_MAX_DOCS else "randomized",
        "svd_sample": SVD_SAMPLE_DOCS,
        "power_iterations": POWER_ITERATIONS,
        "oversamples": OVERSAMPLES,
    }


def vectorizer_from(terms: Sequence[str], idf: np.ndarray):
    """A fitted TF-IDF vectorizer from its vocabulary (terms in column order) and idf weights —
    how both a fresh fit and an index loaded from disk get their query-time vectorizer, so the two
    transform queries identically."""
    vec = make_tfidf(**{k: v for k, v in TFIDF_PARAMS.items() if k != "ngram_range"}, max_features=MAX_FEATURES, dtype=idf.dtype.type)
    vec.vocabulary_ = {t: i for i, t in enumerate(terms)}
    vec.idf_ = idf
    return vec


def fit_tfidf(texts: Iterable[str], dtype) -> tuple[list[str], np.ndarray, "object"]:
    """TF-IDF fit with the semantics of scikit-learn's ``TfidfVectorizer(**TFIDF_PARAMS,
    max_features=MAX_FEATURES)`` (same analyzer, the most frequent n-grams kept, smooth idf,
    sublinear tf, l2 rows), in memory proportional to the corpus' non-zeros rather than to a
    Python list per occurrence. Returns (terms in column order, idf, CSR matrix)."""
    import scipy.sparse as sp

    from sovereign.tfidf import count_ngrams, normalize_rows

    analyze = make_tfidf(**{k: v for k, v in TFIDF_PARAMS.items() if k != "ngram_range"}).build_analyzer()
    vocab, cols, counts, indptr = count_ngrams(texts, analyze)
    n_docs, n_terms = len(indptr) - 1, len(vocab)
    if not n_terms:
        raise ValueError("empty vocabulary; perhaps the documents only contain stop words")
    df = np.bincount(cols, minlength=n_terms)
    tf = np.bincount(cols, weights=counts, minlength=n_terms)
    keep = np.flatnonzero(df >= TFIDF_PARAMS["min_df"])
    if len(keep) > MAX_FEATURES:  # the most frequent n-grams; ties by first appearance (deterministic)
        keep = keep[np.lexsort((keep, -tf[keep]))[:MAX_FEATURES]]
    terms_all = list(vocab)
    del vocab
    kept_terms = sorted(terms_all[j] for j in keep)  # column order: alphabetical, as scikit-learn
    position = {t: i for i, t in enumerate(kept_terms)}
    new_id = np.full(n_terms, -1, dtype=np.int32)
    new_id[keep] = [position[terms_all[j]] for j in keep]
    del terms_all, position
    mapped = new_id[cols]
    alive = mapped >= 0
    kept_before = np.zeros(len(alive) + 1, dtype=np.int64)
    np.cumsum(alive, out=kept_before[1:])
    new_indptr = kept_before[indptr]
    del kept_before, new_id
    index_dtype = np.int32 if new_indptr[-1] < np.iinfo(np.int32).max else np.int64
    x = sp.csr_matrix(
        (counts[alive].astype(dtype), mapped[alive].astype(index_dtype, copy=False), new_indptr.astype(index_dtype)),
        shape=(n_docs, len(kept_terms)),
    )
    del mapped, alive, cols, counts
    x.sort_indices()
    doc_freq = np.bincount(x.indices, minlength=x.shape[1]).astype(dtype)
    idf = np.full_like(doc_freq, n_docs + 1, dtype=dtype)
    idf /= doc_freq + 1
    np.log(idf, out=idf)
    idf += 1.0
    np.log(x.data, out=x.data)
    x.data += 1.0
    x.data *= idf[x.indices]
    normalize_rows(x)
    return kept_terms, idf, x


def _exact_svd(x, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k singular triplets from the n x n Gram matrix (small corpora): (basis U / s, rows U s),
    both documents x k. The projection (right singular vectors) is X^T (U / s), see
    :func:`projection_from_basis`; the basis is what the cache stores (n x k floats, where the
    projection is features x k: 0.8 MB instead of 54 MB for the bundled corpus)."""
    import scipy.linalg as la

    gram = (x @ x.T).toarray()
    n = gram.shape[0]
    values, vectors = la.eigh(gram, subset_by_index=[n - k, n - 1], check_finite=False)
    order = np.argsort(values)[::-1]
    s = np.sqrt(np.clip(values[order], 0.0, None))
    u = vectors[:, order]
    return np.ascontiguousarray(u / np.where(s > 0, s, 1.0)), u * s


def projection_from_basis(matrix_csc, basis: np.ndarray) -> np.ndarray:
    """X^T B for the column-major document matrix (features x k, C-contiguous); the same
    operation after a fit and after a load, so both give the same bits."""
    return np.ascontiguousarray(matrix_csc.T @ basis, dtype=matrix_csc.dtype)


FEATURE_BLOCK = 16384
"""Features per block when the randomized SVD multiplies by X^T: the features x (dim + 10)
matrices are never held whole (at 200k features one would be 213 MB in float32)."""


def _randomized_svd(x, k: int, seed: int) -> np.ndarray:
    """Projection (V x k) of a randomized truncated SVD (Halko, Martinsson & Tropp 2011, power
    iterations with a QR on the document side) fitted on at most :data:`SVD_SAMPLE_DOCS` documents.

    The small matrix B = Q^T X is decomposed through its l x l Gram matrix (B B^T, accumulated in
    float64 over feature blocks) instead of LAPACK's SVD of B, which took 23 s for 266 x 131k on
    2 cores; the only features x k matrix ever allocated is the result."""
    import scipy.linalg as la

    rng = np.random.default_rng(seed)
    n = x.shape[0]
    sample = x[np.sort(rng.choice(n, size=SVD_SAMPLE_DOCS, replace=False))] if n > SVD_SAMPLE_DOCS else x
    sample_t = sample.T.tocsr()  # features x docs: row blocks of it are column blocks of the sample
    n_features = sample_t.shape[0]
    blocks = [sample_t[i : i + FEATURE_BLOCK] for i in range(0, n_features, FEATURE_BLOCK)]
    blocks_t = [b.T.tocsr() for b in blocks]  # docs x block features
    del sample, sample_t
    n_docs = blocks[0].shape[1]
    width = min(k + OVERSAMPLES, n_docs, n_features)

    def x_xt(y: np.ndarray) -> np.ndarray:  # X X^T y, one feature block at a time
        out = np.zeros_like(y)
        for b, bt in zip(blocks, blocks_t):
            out += bt @ (b @ y)
        return out

    y = np.zeros((n_docs, width), dtype=x.dtype)
    for bt in blocks_t:  # y = X @ omega, omega drawn block by block
        y += bt @ rng.standard_normal((bt.shape[1], width), dtype=np.float32).astype(x.dtype, copy=False)
    for _ in range(POWER_ITERATIONS):  # LU keeps the basis well conditioned at a tenth of a QR's cost
        y = x_xt(la.lu(y, permute_l=True, check_finite=False)[0])
    q = la.qr(y, mode="economic", check_finite=False)[0]  # docs x l, orthonormal
    del y
    # B B^T = Q^T X X^T Q (l x l), in float64
    gram = q.T.astype(np.float64) @ x_xt(q).astype(np.float64)
    values, vectors = np.linalg.eigh((gram + gram.T) / 2)
    order = np.argsort(values)[::-1][:k]
    s = np.sqrt(np.clip(values[order], 0.0, None))
    vectors = vectors[:, order]
    u = q @ vectors.astype(x.dtype)  # left singular vectors (docs x k)
    # one sign per component (the largest entry of u positive), so LAPACK's choice does not matter
    sign = np.sign(u[np.abs(u).argmax(axis=0), np.arange(u.shape[1])])
    sign[sign == 0] = 1
    qw = (u * (sign / np.where(s > 0, s, 1.0)).astype(x.dtype)).astype(x.dtype)  # docs x k
    del u, q
    projection = np.empty((n_features, k), dtype=x.dtype)
    for i, b in enumerate(blocks):  # V = X^T U / s: the right singular vectors
        projection[i * FEATURE_BLOCK : i * FEATURE_BLOCK + b.shape[0]] = b @ qw
    return projection


class LsaEmbedder:
    """Offline embeddings: TF-IDF (word 1-2-grams, sublinear tf) projected by truncated SVD (LSA).

    Deterministic (fixed seed) and fitted on the local corpus, so it downloads nothing. Small
    corpora get the exact SVD, large ones a randomized SVD fitted on a sample (see the constants
    above). :meth:`parts` / :meth:`from_parts` turn the model into plain arrays and back (the local
    index persists them without pickle).
    """

    def __init__(self, fit_texts: Sequence[str] | Iterable[str], dim: int = 256, seed: int = 0, n_docs: int | None = None):
        """Fit on ``fit_texts``; pass ``n_docs`` with an iterator to stream the texts (read once)."""
        global FITS
        if n_docs is None:
            fit_texts = fit_texts if isinstance(fit_texts, (list, tuple)) else list(fit_texts)
            n_docs = len(fit_texts)
        self.config = lsa_config(n_docs, dim, seed)
        dtype = np.float64 if self.config["dtype"] == "float64" else np.float32
        terms, idf, x = fit_tfidf(fit_texts, dtype)
        k = max(2, min(dim, x.shape[0] - 1, x.shape[1] - 1))
        basis = None
        if self.config["svd"] == "exact":
            basis, rows = _exact_svd(x, k)
            unit_rows = l2_normalize(rows)
            x = x.tocsc()
            projection = None  # derived from the basis, row by row as texts need them
        else:
            projection = _randomized_svd(x, k, seed)
            unit_rows = np.empty((x.shape[0], k), dtype=np.float32)
            for i in range(0, x.shape[0], 8192):
                unit_rows[i : i + 8192] = l2_normalize(x[i : i + 8192] @ projection)
            x = x.tocsc()
        FITS += 1
        # column-major from here on: a query's lexical scores sum its terms' columns (postings)
        self._setup(terms, idf, x, projection, basis)
        self._unit_rows = unit_rows

    def _setup(self, terms: Sequence[str], idf: np.ndarray, matrix, projection: np.ndarray | None, basis: np.ndarray | None = None) -> None:
        self.terms = list(terms)
        self.vectorizer = vectorizer_from(self.terms, idf)
        self.fitted_matrix = matrix  # documents x terms, CSC
        self._projection = projection  # features x dim, C-contiguous: X @ projection is one sparse pass
        self.basis = basis  # documents x dim (exact SVD only): projection = X^T basis
        self.dim = int((projection if projection is not None else basis).shape[1])
        self.name = f"offline-lsa-{self.dim}d (TF-IDF 1-2-gram + truncated SVD, fitted on the local corpus)"

    @classmethod
    def from_parts(
        cls, config: dict, terms: Sequence[str], idf: np.ndarray, matrix, projection: np.ndarray | None = None,
        basis: np.ndarray | None = None,
    ) -> "LsaEmbedder":
        """The model from the arrays :meth:`parts` returned (no fitting): the projection, or for the
        exact SVD the basis it is recomputed from."""
        self = cls.__new__(cls)
        self.config = dict(config)
        self._setup(terms, idf, matrix, None if projection is None else np.ascontiguousarray(projection), basis)
        self._unit_rows = None
        return self

    def parts(self) -> dict:
        """What defines the model: config, vocabulary, idf, the document matrix, and either the
        projection or (exact SVD) the much smaller basis it derives from."""
        out = {"config": self.config, "terms": self.terms, "idf": self.vectorizer.idf_, "matrix": self.fitted_matrix}
        if self.basis is not None:
            out["basis"] = self.basis
        else:
            out["projection"] = self.projection
        return out

    @property
    def projection(self) -> np.ndarray:
        """TF-IDF features -> LSA dimensions (features x dim). For the exact SVD it is derived from
        the basis (X^T basis) only when asked for whole: embedding texts needs only the rows of their
        terms (:meth:`_project`), which keeps loading the bundled corpus' index at milliseconds
        instead of the 0.13 s the whole product takes."""
        if self._projection is None:
            self._projection = projection_from_basis(self.fitted_matrix, self.basis)
        return self._projection

    def _project(self, x) -> np.ndarray:
        """``x @ projection`` for TF-IDF rows ``x``, from the rows of the terms they contain."""
        if self._projection is not None or self.basis is None:
            return x @ self.projection
        cols = np.unique(x.indices)
        return x[:, cols] @ projection_from_basis(self.fitted_matrix[:, cols], self.basis)

    @property
    def components(self) -> np.ndarray:
        """The SVD's right singular vectors (dim x features), as TruncatedSVD.components_."""
        return self.projection.T

    def svd_rows(self) -> np.ndarray:
        """Embeddings of the texts the model was fitted on (computed during the fit), L2-normalised."""
        if self._unit_rows is None:
            source = getattr(self, "_rows_source", None)
            return source() if source is not None else l2_normalize(self.fitted_matrix @ self.projection)
        return self._unit_rows

    def release_rows(self, source=None) -> None:
        """Drop the fitted texts' embeddings once an index holds them (100k x 256 floats = 100 MB);
        ``source()`` returns them again when asked (e.g. ``VectorIndex.vectors``)."""
        self._unit_rows = None
        self._rows_source = source

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return l2_normalize(self._project(self.vectorizer.transform(list(texts))))

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]
