"""sovereign.tfidf reimplements scikit-learn's word TF-IDF (to keep scikit-learn's import off a
run's critical path): these tests hold it to scikit-learn's output on the bundled corpus."""

import numpy as np
import pytest
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS
from sklearn.feature_extraction.text import TfidfVectorizer as Reference

from sovereign import tfidf
from sovereign.adapters.corpus import load_corpus
from sovereign.text import normalize

TEXTS = [p.text for p in load_corpus().papers]
QUERIES = [
    "causal encoder W.A.L.T video generation FVD",
    "LoRA low-rank adaptation of large language models",
    "the of and",  # stop words only: a zero row
    "zzzqx-qqqvw",
    "",
]
TRICKY = ["Don't stop-me now: GPT-4's 3.5x speed-up (±0.2) — naïve café Ⅻ", "a b c dd ee ff", "x"]


def test_stop_words_are_scikit_learns():
    assert tfidf.ENGLISH_STOP_WORDS == ENGLISH_STOP_WORDS


@pytest.mark.parametrize("ngram_range", [(1, 1), (1, 2), (2, 2), (1, 3)])
@pytest.mark.parametrize("stop_words", ["english", None])
def test_analyzer_matches(ngram_range, stop_words):
    ours = tfidf.TfidfVectorizer(preprocessor=normalize, ngram_range=ngram_range, stop_words=stop_words).build_analyzer()
    ref = Reference(preprocessor=normalize, ngram_range=ngram_range, stop_words=stop_words).build_analyzer()
    for text in TRICKY + TEXTS[:40]:
        assert ours(text) == ref(text)


@pytest.mark.parametrize("ngram_range", [(3, 5), (1, 2)])
def test_char_wb_analyzer_matches(ngram_range):
    ours = tfidf.TfidfVectorizer(analyzer="char_wb", ngram_range=ngram_range).build_analyzer()
    ref = Reference(analyzer="char_wb", ngram_range=ngram_range).build_analyzer()
    for text in TRICKY + ["  spaced\t\tout  text\n\nhere ", "ab"] + TEXTS[:20]:
        assert ours(text) == ref(text)


@pytest.mark.parametrize("params", [
    {"analyzer": "char_wb", "ngram_range": (3, 5), "sublinear_tf": True},
    {"ngram_range": (1, 2), "sublinear_tf": True, "stop_words": "english"},
    {"ngram_range": (1, 2)},
    {"ngram_range": (1, 1), "sublinear_tf": True},
])
def test_fit_transform_and_transform_match_on_the_corpus(params):
    ours = tfidf.TfidfVectorizer(preprocessor=normalize, **params)
    ref = Reference(preprocessor=normalize, **params)
    got, want = ours.fit_transform(TEXTS), ref.fit_transform(TEXTS)
    assert ours.vocabulary_ == ref.vocabulary_
    assert np.allclose(ours.idf_, ref.idf_, rtol=0, atol=1e-12)
    assert got.shape == want.shape and abs(got - want).max() < 1e-12
    q_ours, q_ref = ours.transform(QUERIES), ref.transform(QUERIES)
    assert abs(q_ours - q_ref).max() < 1e-12
    if params.get("analyzer") != "char_wb":
        assert q_ours[[3, 4]].nnz == 0  # nothing known: zero rows, not NaN
    assert q_ours[[4]].nnz == 0
    assert not np.isnan(q_ours.data).any()
    # cosine similarities (what the callers use) agree too
    assert np.allclose((q_ours @ got.T).toarray(), (q_ref @ want.T).toarray(), atol=1e-12)


def test_float32_and_a_vocabulary_set_from_a_stored_fit():
    ref = Reference(preprocessor=normalize, sublinear_tf=True, stop_words="english", dtype=np.float32).fit(TEXTS[:100])
    ours = tfidf.TfidfVectorizer(preprocessor=normalize, sublinear_tf=True, stop_words="english", dtype=np.float32, max_features=10)
    ours.vocabulary_, ours.idf_ = dict(ref.vocabulary_), ref.idf_
    got, want = ours.transform(QUERIES[:2]), ref.transform(QUERIES[:2])
    assert got.dtype == np.float32 and abs(got - want).max() < 1e-6


def test_errors_like_scikit_learn():
    with pytest.raises(ValueError, match="empty vocabulary"):
        tfidf.TfidfVectorizer(stop_words="english").fit_transform(["the of and", "a"])
    with pytest.raises(ValueError, match="not fitted"):
        tfidf.TfidfVectorizer().transform(["x"])
    with pytest.raises(ValueError, match="max_features"):
        tfidf.TfidfVectorizer(max_features=3).fit(["alpha beta"])


def test_a_default_run_does_not_import_scikit_learn(tmp_path):
    """The reason this module exists: an offline research run (search, ranking, the tfidf
    verifier) never imports scikit-learn, so its 0.6 s import is not on the critical path."""
    import os
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from sovereign import run_research\n"
        "r = run_research('How does LoRA reduce the number of trainable parameters?', provider='offline', max_revision_rounds=0)\n"
        "assert r.claims, 'no claims'\n"
        "print(sorted(m for m in ('sklearn', 'pandas', 'scipy.stats') if m in sys.modules))\n"
    )
    env = {**os.environ, "SOVEREIGN_CACHE_DIR": str(tmp_path / "cache")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"
