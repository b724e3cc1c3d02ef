"""The local search index is saved in the cache folder and reused by later processes: loads give
exactly the results of a fresh build, and a corrupt, truncated, stale or tampered cache is detected
and rebuilt with a note — never a crash, never a pickle load."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

from sovereign.adapters import embeddings, local_source
from sovereign.adapters.corpus import bundled_corpus_path, load_corpus
from sovereign.adapters.local_source import LocalSearcher, files_for, top_k

QUERIES = [
    "How does the causal encoder design in W.A.L.T influence FVD?",
    "LoRA rank fine-tuning",
    "How does DoRA differ from LoRA?",
    "efficient attention for long sequences",
    "zzzz unknownword",
]


@pytest.fixture
def small_corpus(tmp_path) -> Path:
    """The first 80 bundled papers in a corpus file of the test's own."""
    lines = Path(bundled_corpus_path()).read_text(encoding="utf-8").splitlines()[:80]
    path = tmp_path / "corpus.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def fits() -> int:
    return embeddings.FITS


def assert_same(a: LocalSearcher, b: LocalSearcher) -> None:
    for q in QUERIES:
        assert np.array_equal(a.scores(q), b.scores(q)), q
        assert [(p.id, s) for p, s in a.search(q, 8)] == [(p.id, s) for p, s in b.search(q, 8)], q
        assert np.array_equal(a.embedder.embed_query(q), b.embedder.embed_query(q))
    texts = ["W.A.L.T uses a causal encoder.", "LoRA freezes the pretrained weights."]
    assert np.array_equal(a.embedder.embed_documents(texts), b.embedder.embed_documents(texts))
    assert np.array_equal(a.embedder.svd_rows(), b.embedder.svd_rows())
    assert (a.matrix != b.matrix).nnz == 0 and a.matrix.dtype == b.matrix.dtype
    assert a.names == b.names and a.embedder.dim == b.embedder.dim and a.embedder.name == b.embedder.name


def slot(searcher: LocalSearcher) -> Path:
    assert searcher.cache_path is not None and searcher.cache_path.is_dir()
    return searcher.cache_path


def test_second_construction_loads_without_refitting_and_gives_identical_results():
    corpus = load_corpus()
    before = fits()
    built = LocalSearcher(corpus)
    assert built.source == "built" and fits() == before + 1 and built.notes == []
    loaded = LocalSearcher(corpus)
    assert loaded.source == "loaded" and fits() == before + 1 and loaded.notes == []
    assert_same(built, loaded)
    # the bundled corpus keeps its known answers
    assert loaded.search("How does DoRA differ from LoRA?", 3)[0][0].id == "2402.09353"


def test_the_cache_holds_only_raw_arrays_and_json_and_loads_without_pickle():
    searcher = LocalSearcher(load_corpus())
    files = sorted(p.name for p in slot(searcher).iterdir())
    assert files == sorted([*files_for(searcher.embedder.config), "manifest.json"])
    assert "basis.npy" in files  # small corpus: the exact SVD's basis, not the 54 MB projection
    assert {Path(f).suffix for f in files} <= {".index", ".npy", ".npz", ".json"}
    folder = slot(searcher)
    for name in ("idf.npy", "basis.npy"):
        arr = np.load(folder / name, allow_pickle=False)
        assert arr.dtype != object
    with np.load(folder / "tfidf.npz", allow_pickle=False) as z:
        assert all(z[k].dtype != object for k in z.files)
    with zipfile.ZipFile(folder / "tfidf.npz") as z:
        assert all(n.endswith(".npy") for n in z.namelist())
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["shapes"]["papers"] == len(load_corpus().papers)
    assert manifest["corpus"]["sha256"].startswith("file:") and len(manifest["key"]) == 64
    assert set(manifest["files"]) == set(files_for(searcher.embedder.config))


@pytest.mark.parametrize(
    "damage",
    ["garbage_index", "truncated_index", "flipped_byte_basis", "empty_terms", "bad_manifest_json"],
)
def test_a_corrupt_cache_is_detected_and_rebuilt_with_a_note(small_corpus, damage):
    corpus = load_corpus(str(small_corpus))
    first = LocalSearcher(corpus)
    folder = slot(first)
    if damage == "garbage_index":
        (folder / "dense.index").write_bytes(b"not a faiss index" * 10)
    elif damage == "truncated_index":
        data = (folder / "dense.index").read_bytes()
        (folder / "dense.index").write_bytes(data[: len(data) // 2])
    elif damage == "flipped_byte_basis":
        path = folder / "basis.npy"
        data = bytearray(path.read_bytes())
        data[-100] ^= 0xFF  # same size, different numbers: only the checksum can tell
        path.write_bytes(bytes(data))
    elif damage == "empty_terms":
        (folder / "terms.json").write_text("")
    elif damage == "bad_manifest_json":
        (folder / "manifest.json").write_text("{not json")
    before = fits()
    again = LocalSearcher(corpus)
    assert again.source == "built" and fits() == before + 1
    assert len(again.notes) == 1 and "unusable" in again.notes[0] and "rebuilt" in again.notes[0]
    assert "\n" not in again.notes[0]
    assert_same(first, again)
    # the rebuilt cache is whole again
    third = LocalSearcher(corpus)
    assert third.source == "loaded" and third.notes == []


def test_a_stale_cache_is_rebuilt_when_the_corpus_changes(small_corpus):
    first = LocalSearcher(load_corpus(str(small_corpus)))
    records = [json.loads(line) for line in small_corpus.read_text(encoding="utf-8").splitlines()]
    records[0]["abstract"] = "Zorblax is a quantum teapot method for brewing video diffusion."
    small_corpus.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    changed = load_corpus(str(small_corpus))
    before = fits()
    second = LocalSearcher(changed)
    assert second.source == "built" and fits() == before + 1
    assert second.cache_path == first.cache_path  # same slot, overwritten
    assert len(second.notes) == 1 and "stale" in second.notes[0]
    assert second.search("zorblax quantum teapot", 1)[0][0].id == records[0]["id"]
    assert LocalSearcher(changed).source == "loaded"


def test_other_model_settings_make_the_cache_stale_and_reuse_its_folder(small_corpus, monkeypatch):
    corpus = load_corpus(str(small_corpus))
    first = LocalSearcher(corpus)
    monkeypatch.setattr(embeddings, "EXACT_SVD_MAX_DOCS", 10)  # e.g. the corpus grew past a threshold
    second = LocalSearcher(corpus)
    assert second.source == "built" and second.cache_path == first.cache_path
    assert "stale" in second.notes[0]
    assert [p.name for p in first.cache_path.parent.iterdir()] == [first.cache_path.name]


def test_a_manifest_for_other_papers_is_stale(small_corpus):
    corpus = load_corpus(str(small_corpus))
    folder = slot(LocalSearcher(corpus))
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["corpus"]["ids_sha256"] = "0" * 64
    (folder / "manifest.json").write_text(json.dumps(manifest))
    again = LocalSearcher(corpus)
    assert again.source == "built" and "stale" in again.notes[0]


def test_same_file_bytes_read_differently_are_stale(small_corpus, monkeypatch):
    """A new corpus reader (e.g. a sanitiser) can turn the same bytes into other texts."""
    corpus = load_corpus(str(small_corpus))
    LocalSearcher(corpus)
    first = corpus.papers[0]
    altered = type(corpus)(path=corpus.path, papers=(first.model_copy(update={"abstract": "Other text."}), *corpus.papers[1:]))
    again = LocalSearcher(altered)
    assert again.source == "built" and "texts differ" in again.notes[0]


def test_a_pickled_array_is_refused_even_with_a_matching_checksum(small_corpus):
    corpus = load_corpus(str(small_corpus))
    folder = slot(LocalSearcher(corpus))
    np.save(folder / "idf.npy", np.array([{"payload": 1}], dtype=object), allow_pickle=True)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"]["idf.npy"] = {
        "bytes": (folder / "idf.npy").stat().st_size,
        "sha256": local_source.sha256_file(folder / "idf.npy"),
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    again = LocalSearcher(corpus)
    assert again.source == "built" and "unusable" in again.notes[0]


def test_a_crash_while_saving_leaves_nothing_that_loads(small_corpus, monkeypatch):
    corpus = load_corpus(str(small_corpus))

    def crash(self, path):
        raise OSError("disk full")

    monkeypatch.setattr(local_source.VectorIndex, "save", crash)
    first = LocalSearcher(corpus)
    assert first.source == "built" and "could not save" in first.notes[0]
    root = first.cache_path.parent
    assert not first.cache_path.exists()
    assert [p for p in root.iterdir()] == []  # the temporary folder is gone too
    monkeypatch.undo()
    second = LocalSearcher(corpus)
    assert second.source == "built" and second.notes == []
    assert LocalSearcher(corpus).source == "loaded"


def test_an_unusable_cache_folder_is_a_note_not_a_crash(small_corpus, tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    monkeypatch.setenv("SOVEREIGN_CACHE_DIR", str(blocker / "cache"))
    searcher = LocalSearcher(load_corpus(str(small_corpus)))
    assert searcher.source == "built" and len(searcher.notes) == 1
    assert searcher.search("LoRA", 3)


def test_without_persistence_nothing_is_written(small_corpus, tmp_path):
    searcher = LocalSearcher(load_corpus(str(small_corpus)), persist=False)
    assert searcher.cache_path is None and not (tmp_path / "cache" / local_source.INDEX_DIR).exists()


def test_the_large_corpus_path_persists_identically(small_corpus, monkeypatch):
    """Randomized SVD on a document sample, float32, capped vocabulary — the code path of corpora
    above a few thousand papers — exercised on a small corpus by lowering the thresholds."""
    monkeypatch.setattr(embeddings, "EXACT_SVD_MAX_DOCS", 10)
    monkeypatch.setattr(embeddings, "FLOAT64_MAX_DOCS", 10)
    monkeypatch.setattr(embeddings, "SVD_SAMPLE_DOCS", 50)
    monkeypatch.setattr(embeddings, "MAX_FEATURES", 3000)
    monkeypatch.setattr(embeddings, "FEATURE_BLOCK", 700)
    corpus = load_corpus(str(small_corpus))
    built = LocalSearcher(corpus, dim=32)
    assert built.embedder.config["svd"] == "randomized" and built.matrix.dtype == np.float32
    assert len(built.embedder.terms) == 3000 and built.embedder.dim == 32
    loaded = LocalSearcher(corpus, dim=32)
    assert loaded.source == "loaded" and (loaded.cache_path / "projection.npy").exists()
    assert_same(built, loaded)
    # a paper's own summary finds it
    for p in corpus.papers[:10]:
        assert built.search(p.abstract, 3)[0][0].id == p.id
    # the projection's columns are orthonormal right singular vectors
    gram = built.embedder.projection.T.astype(np.float64) @ built.embedder.projection
    assert np.allclose(gram, np.eye(32), atol=1e-3)


def test_the_lean_tfidf_fit_matches_scikit_learn():
    from sovereign.adapters.local_source import paper_text

    texts = [paper_text(p) for p in load_corpus().papers]
    from sklearn.feature_extraction.text import TfidfVectorizer

    from sovereign.text import normalize

    reference = TfidfVectorizer(
        preprocessor=normalize, ngram_range=(1, 2), sublinear_tf=True, stop_words="english", min_df=1, max_features=embeddings.MAX_FEATURES
    )
    expected = reference.fit_transform(texts)
    terms, idf, matrix = embeddings.fit_tfidf(texts, np.float64)
    assert terms == sorted(reference.vocabulary_, key=reference.vocabulary_.get)
    assert np.array_equal(idf, reference.idf_)
    assert abs(matrix - expected).max() < 1e-12
    vec = embeddings.vectorizer_from(terms, idf)
    assert abs(vec.transform(QUERIES) - reference.transform(QUERIES)).max() < 1e-12


def test_the_exact_svd_matches_scikit_learn_arpack():
    from sklearn.decomposition import TruncatedSVD

    from sovereign.adapters.local_source import paper_text

    texts = [paper_text(p) for p in load_corpus().papers[:120]]
    ours = embeddings.LsaEmbedder(texts, dim=64)
    svd = TruncatedSVD(n_components=64, random_state=0, algorithm="arpack").fit(ours.fitted_matrix)
    reference = embeddings.l2_normalize(svd.transform(ours.fitted_matrix))
    # same subspace: identical cosine geometry (signs of components are arbitrary)
    assert np.abs(ours.svd_rows() @ ours.svd_rows().T - reference @ reference.T).max() < 1e-4


def test_top_k_is_the_head_of_a_stable_descending_sort():
    rng = np.random.default_rng(0)
    for _ in range(50):
        scores = rng.integers(0, 5, size=int(rng.integers(1, 40))).astype(float)
        for k in (1, 3, 8, 100):
            assert top_k(scores, k).tolist() == np.argsort(-scores, kind="stable")[:k].tolist()


def test_searcher_notes_are_exposed_for_the_caller(small_corpus):
    """The retriever can surface ``notes`` (one line each) as report uncertainties."""
    corpus = load_corpus(str(small_corpus))
    folder = slot(LocalSearcher(corpus))
    os.remove(folder / "names.json")
    notes = LocalSearcher(corpus).notes
    assert len(notes) == 1 and notes[0].startswith("Local index:")
