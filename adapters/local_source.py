"""Local corpus search: hybrid of lexical TF-IDF and dense LSA similarity over title + abstract.

The models are fitted once per corpus and machine, not once per process: everything
:class:`LocalSearcher` builds is saved in the cache folder (``SOVEREIGN_CACHE_DIR``, default
``~/.cache/sovereign``) under ``local-index/<slot>/`` and loaded by the next process:

=================  ==========================================================================
``manifest.json``  format version, cache key, corpus digest and paper ids, model configuration,
                   shapes, and the size and SHA-256 of every other file (written last)
``terms.json``     the TF-IDF vocabulary, in column order
``idf.npy``        idf weights (``numpy.save``; read with ``allow_pickle=False``)
``projection.npy`` the LSA projection, features x dim (the SVD's right singular vectors) — or,
``basis.npy``      for corpora small enough for the exact SVD, documents x dim U/s, from which
                   the projection is recomputed (X^T U/s: a few ms; 0.8 MB instead of 54 MB)
``tfidf.npz``      the documents' TF-IDF matrix (``scipy.sparse.save_npz``, CSC; read with
                   ``numpy.load(allow_pickle=False)``)
``dense.index``    the FAISS index of the documents' LSA vectors (``faiss.write_index``)
``names.json``     paper names -> paper rows (the name bonus)
=================  ==========================================================================

Nothing is unpickled, so swapping a file can at worst make the index wrong, never run code, and
the checksums make that a rebuild. The key is the SHA-256 of the corpus file's bytes together
with the model configuration (dimension, TF-IDF and SVD settings) and :data:`FORMAT_VERSION`. A
load checks the manifest (key, paper count, ids and a digest of the indexed texts — so a change of
the corpus reader is caught too —, shapes) and every file's checksum; any
mismatch or read error (stale key, corrupt or truncated file) means a rebuild, never a crash,
with a one-line note in :attr:`LocalSearcher.notes`. A save writes into a temporary folder and
renames it into place, so a crash never leaves a half-written index that would load.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import time
import uuid
from pathlib import Path

import numpy as np

from sovereign.adapters.corpus import Corpus, file_sha256, sha256_file
from sovereign.adapters.embeddings import LsaEmbedder, lsa_config
from sovereign.adapters.vector_index import VectorIndex
from sovereign.graph.state import Paper
from sovereign.text import entities, normalize, paper_names

LEXICAL_WEIGHT = 0.65
"""Share of the lexical score in the hybrid score (the rest is the dense LSA cosine)."""
NAME_BONUS = 0.15
"""Added to the score of a paper that the query names (e.g. "LoRA" for "LoRA: Low-Rank ...")."""

FORMAT_VERSION = 1
"""Version of the on-disk index layout and of the text recipe (:func:`paper_text`)."""
INDEX_DIR = "local-index"
FILES = ("terms.json", "idf.npy", "tfidf.npz", "dense.index", "names.json")
"""Files of every index (plus ``model_file``'s and the manifest)."""


def model_file(config: dict) -> str:
    return "basis.npy" if config.get("svd") == "exact" else "projection.npy"


def files_for(config: dict) -> tuple[str, ...]:
    return (*FILES, model_file(config))
STALE_TMP_SECONDS = 3600


def paper_text(p: Paper) -> str:
    # the title counts twice: it names the method, which is what users ask about
    return f"{p.title}. {p.title}. {p.abstract}"


# ----------------------------------------------------------------------------- persistence


class IndexCacheError(Exception):
    """The cached index cannot be used (the message says why, in a few words)."""


def texts_digest(papers: list[Paper]) -> str:
    """SHA-256 of what is indexed (ids and texts, in order): a load checks it, so an index built
    from other texts is never used — whether the file changed after it was read or the corpus
    reader now parses the same bytes differently (e.g. a new sanitiser)."""
    h = hashlib.sha256()
    for p in papers:
        h.update(p.id.encode("utf-8", "surrogatepass") + b"\x1f" + paper_text(p).encode("utf-8", "surrogatepass") + b"\x1e")
    return h.hexdigest()


def corpus_digest(corpus: Corpus, texts_sha256: str) -> str:
    """SHA-256 of the corpus file's bytes; of the indexed texts when there is no readable file."""
    try:
        if corpus.path and os.path.isfile(corpus.path):
            st = os.stat(corpus.path)
            return "file:" + file_sha256(os.path.abspath(corpus.path), st.st_mtime_ns, st.st_size)  # memoised: the reader hashed it too
    except OSError:
        pass
    return "texts:" + texts_sha256


def ids_digest(papers: list[Paper]) -> str:
    return hashlib.sha256("\x1e".join(p.id for p in papers).encode("utf-8", "surrogatepass")).hexdigest()


def _versions() -> dict[str, str]:
    import faiss
    import scipy

    return {"numpy": np.__version__, "scipy": scipy.__version__, "faiss": faiss.__version__}


class IndexStore:
    """One slot of the on-disk index cache: a folder per (corpus path, dimension)."""

    def __init__(self, corpus: Corpus, papers: list[Paper], config: dict, root: Path | None = None):
        from sovereign.adapters.cache import cache_dir

        self.papers = papers
        self.config = config
        self.root = Path(root) if root is not None else cache_dir() / INDEX_DIR
        self.texts_sha256 = texts_digest(papers)
        self.corpus_sha256 = corpus_digest(corpus, self.texts_sha256)
        self.key = hashlib.sha256(
            json.dumps({"format": FORMAT_VERSION, "corpus": self.corpus_sha256, "config": config}, sort_keys=True).encode()
        ).hexdigest()
        # one slot per corpus path and dimension: a changed corpus or model finds its old index there
        # (stale -> rebuilt in place) instead of leaving it behind
        slot = hashlib.sha256(json.dumps([os.path.abspath(corpus.path or ""), config["dim"], config["seed"]]).encode()).hexdigest()[:24]
        self.path = self.root / slot

    # ------------------------------------------------------------------ load

    def load(self) -> tuple[LsaEmbedder, VectorIndex, dict[str, list[int]], dict]:
        """The saved model, index and names; raises :class:`IndexCacheError` when unusable."""
        import scipy.sparse as sp

        try:
            manifest = json.loads((self.path / "manifest.json").read_text(encoding="utf-8"))
        except (FileNotFoundError, NotADirectoryError):
            raise IndexCacheError("missing") from None
        except (OSError, ValueError) as exc:
            raise IndexCacheError(f"unreadable manifest ({exc.__class__.__name__})") from None
        try:
            if manifest.get("format") != FORMAT_VERSION:
                raise IndexCacheError(f"format {manifest.get('format')!r}, expected {FORMAT_VERSION}")
            if manifest.get("key") != self.key:
                raise IndexCacheError("stale: built for other corpus contents or settings")
            corpus = manifest["corpus"]
            if corpus["papers"] != len(self.papers) or corpus["ids_sha256"] != ids_digest(self.papers):
                raise IndexCacheError("stale: the corpus' papers differ")
            if corpus["texts_sha256"] != self.texts_sha256:
                raise IndexCacheError("stale: the papers' texts differ (file or reader changed)")
            if set(manifest["files"]) != set(files_for(self.config)):
                raise IndexCacheError("the manifest lists other files")
            for name in files_for(self.config):
                meta, path = manifest["files"][name], self.path / name
                if path.stat().st_size != meta["bytes"]:
                    raise IndexCacheError(f"{name} is truncated or resized")
                if sha256_file(path) != meta["sha256"]:
                    raise IndexCacheError(f"{name} fails its checksum")
            shapes = manifest["shapes"]
            n, n_terms, dim = len(self.papers), int(shapes["terms"]), int(shapes["dim"])
            dtype = np.dtype(self.config["dtype"])
            terms = json.loads((self.path / "terms.json").read_text(encoding="utf-8"))
            if not isinstance(terms, list) or len(terms) != n_terms or not all(isinstance(t, str) for t in terms):
                raise IndexCacheError("terms.json does not hold the vocabulary")
            idf = np.load(self.path / "idf.npy", allow_pickle=False)
            model = np.load(self.path / model_file(self.config), allow_pickle=False)
            expected = (n, dim) if model_file(self.config) == "basis.npy" else (n_terms, dim)
            if idf.shape != (n_terms,) or idf.dtype != dtype or model.shape != expected or model.dtype != dtype:
                raise IndexCacheError("idf/projection shapes differ from the manifest")
            with np.load(self.path / "tfidf.npz", allow_pickle=False) as z:
                fmt = z["format"].item()
                if (fmt.decode() if isinstance(fmt, bytes) else str(fmt)) != "csc" or tuple(int(v) for v in z["shape"]) != (n, n_terms):
                    raise IndexCacheError("tfidf.npz is not the documents' CSC matrix")
                matrix = sp.csc_matrix((z["data"], z["indices"], z["indptr"]), shape=(n, n_terms))
            if matrix.dtype != dtype or matrix.nnz != int(shapes["nnz"]):
                raise IndexCacheError("tfidf.npz differs from the manifest")
            index = VectorIndex.load(self.path / "dense.index", dim=dim, size=n)
            raw_names = json.loads((self.path / "names.json").read_text(encoding="utf-8"))
            names = {str(k): [int(i) for i in v] for k, v in raw_names.items()}
            if any(not 0 <= i < n for rows in names.values() for i in rows):
                raise IndexCacheError("names.json points outside the corpus")
        except IndexCacheError:
            raise
        except Exception as exc:  # corrupt or swapped file: any parser error means "rebuild"
            raise IndexCacheError(f"unreadable ({exc.__class__.__name__}: {str(exc).splitlines()[0][:80] if str(exc) else ''})") from None
        model_arg = {"basis": model} if model_file(self.config) == "basis.npy" else {"projection": model}
        embedder = LsaEmbedder.from_parts(manifest["config"], terms, idf, matrix, **model_arg)
        return embedder, index, names, manifest

    # ------------------------------------------------------------------ save

    def save(self, embedder: LsaEmbedder, index: VectorIndex, names: dict[str, list[int]], build_seconds: float) -> None:
        """Write every file into a temporary folder, the manifest last, then rename it into place."""
        import scipy.sparse as sp

        self.root.mkdir(parents=True, exist_ok=True)
        self._sweep()
        tmp = self.root / f".{self.path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            parts = embedder.parts()
            (tmp / "terms.json").write_text(json.dumps(parts["terms"], ensure_ascii=False), encoding="utf-8")
            np.save(tmp / "idf.npy", parts["idf"], allow_pickle=False)
            model = parts["basis"] if "basis" in parts else parts["projection"]
            np.save(tmp / model_file(parts["config"]), model, allow_pickle=False)
            sp.save_npz(tmp / "tfidf.npz", parts["matrix"].tocsc(), compressed=False)
            index.save(tmp / "dense.index")
            (tmp / "names.json").write_text(json.dumps(names, ensure_ascii=False), encoding="utf-8")
            manifest = {
                "format": FORMAT_VERSION,
                "key": self.key,
                "corpus": {
                    "sha256": self.corpus_sha256, "papers": len(self.papers), "ids_sha256": ids_digest(self.papers),
                    "texts_sha256": self.texts_sha256,
                },
                "config": parts["config"],
                "shapes": {
                    "papers": len(self.papers), "terms": len(parts["terms"]), "dim": int(model.shape[1]),
                    "nnz": int(parts["matrix"].nnz), "vectors": index.size,
                },
                "files": {
                    name: {"bytes": (tmp / name).stat().st_size, "sha256": sha256_file(tmp / name)} for name in files_for(parts["config"])
                },
                "index": index.kind,
                "build_seconds": round(build_seconds, 3),
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "versions": _versions(),
            }
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
            self._install(tmp)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    def _install(self, tmp: Path) -> None:
        try:
            os.replace(tmp, self.path)  # atomic; works when no slot folder exists yet
            return
        except OSError:
            pass
        old = self.root / f".{self.path.name}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            os.replace(self.path, old)
        except FileNotFoundError:
            pass
        os.replace(tmp, self.path)
        shutil.rmtree(old, ignore_errors=True)

    def _sweep(self) -> None:
        """Remove temporary folders that crashed writers left behind (older than an hour)."""
        now = time.time()
        for p in self.root.glob(".*.tmp-*"):
            try:
                if now - p.stat().st_mtime > STALE_TMP_SECONDS:
                    shutil.rmtree(p, ignore_errors=True)
            except OSError:
                pass
        for p in self.root.glob(".*.old-*"):
            shutil.rmtree(p, ignore_errors=True)


# ----------------------------------------------------------------------------- search


def names_of(papers: list[Paper]) -> dict[str, list[int]]:
    names: dict[str, list[int]] = {}
    for i, p in enumerate(papers):
        for name in sorted(paper_names(p.title, p.abstract)):
            names.setdefault(name, []).append(i)
    return names


class LocalSearcher:
    """Searches one corpus. Built once per corpus and machine (loaded from the cache folder by later
    processes, see the module docstring) and kept once per process (see :func:`searcher_for`).

    ``source`` is ``"built"`` or ``"loaded"``; ``notes`` holds one line per problem met with the
    cached index (unusable -> rebuilt, not saved), for the caller to surface.
    """

    def __init__(self, corpus: Corpus, dim: int = 256, persist: bool = True):
        self.corpus = corpus
        self.papers = list(corpus.papers)
        self.notes: list[str] = []
        self.source = "built"
        self.cache_path: Path | None = None
        t0 = time.perf_counter()
        store: IndexStore | None = None
        if persist:
            try:
                store = IndexStore(corpus, self.papers, lsa_config(len(self.papers), dim))
                self.cache_path = store.path
                self.embedder, self.index, self.names, _ = store.load()
                self.source = "loaded"
            except IndexCacheError as exc:
                if str(exc) != "missing":
                    self.notes.append(f"Local index: the cached index in {store.path} was unusable ({exc}); rebuilt it.")
            except OSError as exc:  # cache folder unreadable: run without it
                self.notes.append(f"Local index: cannot use the cache folder ({exc.__class__.__name__}); built in memory.")
                store = None
        if self.source == "built":
            self.embedder = LsaEmbedder((paper_text(p) for p in self.papers), dim=dim, n_docs=len(self.papers))
            self.index = VectorIndex(self.embedder.svd_rows())
            self.names = names_of(self.papers)
            if store is not None:
                try:
                    store.save(self.embedder, self.index, self.names, time.perf_counter() - t0)
                except (OSError, RuntimeError, ValueError) as exc:  # read-only or full disk, FAISS I/O error
                    self.notes.append(
                        f"Local index: could not save the index to {store.path} ({exc.__class__.__name__}); the next run rebuilds it."
                    )
        # the index holds the documents' vectors; the embedder reads them back from it when asked
        self.embedder.release_rows(self.index.vectors)
        self.seconds = time.perf_counter() - t0
        # the embedder's fitted TF-IDF doubles as the lexical model
        self.lexical = self.embedder.vectorizer
        self.matrix = self.embedder.fitted_matrix

    def scores(self, query: str) -> np.ndarray:
        """Hybrid relevance of every corpus paper to ``query`` (0..1)."""
        q = self.lexical.transform([query])
        lex = self.matrix[:, q.indices] @ q.data  # the query terms' columns (postings) only
        dense = np.clip(self.index.similarities(self.embedder.embed_query(query)), 0.0, 1.0)
        scores = LEXICAL_WEIGHT * lex + (1 - LEXICAL_WEIGHT) * dense
        for ent in entities(query):
            for i in self.names.get(normalize(ent), ()):
                scores[i] += NAME_BONUS
        return scores

    def search(self, query: str, k: int) -> list[tuple[Paper, float]]:
        scores = self.scores(query)
        top = top_k(scores, k)
        return [(self.papers[i], float(scores[i])) for i in top if scores[i] > 0]


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest scores, best first, ties by index — the first k of a stable
    descending argsort, without sorting the whole corpus."""
    n = len(scores)
    if k <= 0 or n == 0:
        return np.zeros(0, dtype=np.int64)
    if k >= n:
        return np.argsort(-scores, kind="stable")
    kth = np.partition(scores, n - k)[n - k]
    candidates = np.flatnonzero(scores >= kth)  # every element tied with the k-th is in
    return candidates[np.argsort(-scores[candidates], kind="stable")][:k]


_lock = threading.Lock()
_searchers: dict[tuple[str, int, int, bool], LocalSearcher] = {}


def searcher_for(corpus: Corpus, dim: int = 256, persist: bool = True) -> LocalSearcher:
    """The process' searcher for ``corpus`` (built or loaded once; at most four kept)."""
    key = (corpus.path, id(corpus), dim, persist)
    with _lock:
        if key not in _searchers:
            if len(_searchers) >= 4:
                _searchers.pop(next(iter(_searchers)))
            _searchers[key] = LocalSearcher(corpus, dim=dim, persist=persist)
        return _searchers[key]
