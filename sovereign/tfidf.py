"""TF-IDF over word n-grams with scikit-learn's semantics, without importing scikit-learn.

Importing scikit-learn costs about 0.6 s of CPU (it pulls in scipy.stats, and pandas when that is
installed), which a run would pay before its first search. Every TF-IDF of the kernel is a
``TfidfVectorizer`` over word 1-2-grams (the local search's LSA and lexical scores, the retriever's
ranking, the seeds' baseline verifier, the evidence index's lexical part), so this module
reimplements exactly that much of it: the word analyzer (preprocessor, ``(?u)\\b\\w\\w+\\b``
tokens, English stop words, n-grams) and the ``char_wb`` analyzer (the evidence verifier's
character n-grams), the alphabetical vocabulary, smooth idf, sublinear tf and l2-normalised rows.
``tests/test_tfidf.py`` checks it against scikit-learn on the bundled corpus. scikit-learn itself
is still used for the calibration fits (``sovereign eval calibrate``).
"""

from __future__ import annotations

import array
import re
from collections.abc import Callable, Iterable

import numpy as np

TOKEN_PATTERN = re.compile(r"(?u)\b\w\w+\b")
"""scikit-learn's default ``token_pattern``."""

ENGLISH_STOP_WORDS = frozenset(
    """
    a about above across after afterwards again against all almost alone along already also although
    always am among amongst amoungst amount an and another any anyhow anyone anything anyway
    anywhere are around as at back be became because become becomes becoming been before beforehand
    behind being below beside besides between beyond bill both bottom but by call can cannot cant co
    con could couldnt cry de describe detail do done down due during each eg eight either eleven
    else elsewhere empty enough etc even ever every everyone everything everywhere except few
    fifteen fifty fill find fire first five for former formerly forty found four from front full
    further get give go had has hasnt have he hence her here hereafter hereby herein hereupon hers
    herself him himself his how however hundred i ie if in inc indeed interest into is it its itself
    keep last latter latterly least less ltd made many may me meanwhile might mill mine more
    moreover most mostly move much must my myself name namely neither never nevertheless next nine
    no nobody none noone nor not nothing now nowhere of off often on once one only onto or other
    others otherwise our ours ourselves out over own part per perhaps please put rather re same see
    seem seemed seeming seems serious several she should show side since sincere six sixty so some
    somehow someone something sometime sometimes somewhere still such system take ten than that the
    their them themselves then thence there thereafter thereby therefore therein thereupon these
    they thick thin third this those though three through throughout thru thus to together too top
    toward towards twelve twenty two un under until up upon us very via was we well were what
    whatever when whence whenever where whereafter whereas whereby wherein whereupon wherever
    whether which while whither who whoever whole whom whose why will with within without would yet
    you your yours yourself yourselves
    """.split()
)
"""scikit-learn's ``ENGLISH_STOP_WORDS`` (318 words; a test keeps the copy equal)."""


class TfidfVectorizer:
    """The subset of ``sklearn.feature_extraction.text.TfidfVectorizer`` the kernel uses: the
    default word analyzer, ``smooth_idf=True``, ``norm="l2"``, ``min_df=1``. ``max_features`` is
    accepted for a vectorizer whose ``vocabulary_`` and ``idf_`` are set from a stored fit (the
    capped fit itself is :func:`sovereign.adapters.embeddings.fit_tfidf`)."""

    def __init__(
        self,
        *,
        analyzer: str = "word",
        preprocessor: Callable[[str], str] | None = None,
        ngram_range: tuple[int, int] = (1, 1),
        sublinear_tf: bool = False,
        stop_words: str | Iterable[str] | None = None,
        min_df: int = 1,
        max_features: int | None = None,
        dtype=np.float64,
    ):
        if min_df != 1:
            raise ValueError("only min_df=1 is supported")
        if analyzer not in ("word", "char_wb"):
            raise ValueError(f"unsupported analyzer: {analyzer!r}")
        self.analyzer = analyzer
        self.preprocessor = preprocessor
        self.ngram_range = tuple(ngram_range)
        self.sublinear_tf = sublinear_tf
        self.stop_words = stop_words
        self.max_features = max_features
        self.dtype = np.dtype(dtype)
        self.vocabulary_: dict[str, int] | None = None
        self.idf_: np.ndarray | None = None

    def build_analyzer(self) -> Callable[[str], list[str]]:
        """Text -> n-grams, as scikit-learn's ``analyzer="word"`` or ``"char_wb"``."""
        preprocess = self.preprocessor or str.lower
        if self.analyzer == "char_wb":
            return _char_wb_analyzer(preprocess, *self.ngram_range)
        if self.stop_words == "english":
            stop = ENGLISH_STOP_WORDS
        elif self.stop_words is None:
            stop = None
        elif isinstance(self.stop_words, str):
            raise ValueError(f"not a built-in stop list: {self.stop_words!r}")
        else:
            stop = frozenset(self.stop_words)
        lo, hi = self.ngram_range
        findall = TOKEN_PATTERN.findall

        def analyze(doc: str) -> list[str]:
            tokens = findall(preprocess(doc))
            if stop is not None:
                tokens = [w for w in tokens if w not in stop]
            if hi == 1:
                return tokens
            grams = list(tokens) if lo == 1 else []
            join = " ".join
            n_tokens = len(tokens)
            for n in range(max(lo, 2), min(hi + 1, n_tokens + 1)):
                for i in range(n_tokens - n + 1):
                    grams.append(join(tokens[i : i + n]))
            return grams

        return analyze

    # -------------------------------------------------------------------------------- fitting

    def fit(self, docs: Iterable[str]) -> "TfidfVectorizer":
        self.fit_transform(docs)
        return self

    def fit_transform(self, docs: Iterable[str]):
        if self.max_features is not None:
            raise ValueError("fit with max_features: use sovereign.adapters.embeddings.fit_tfidf")
        vocab: dict[str, int] = {}
        counts = self._counts(docs, vocab, grow=True)
        if not vocab:
            raise ValueError("empty vocabulary; perhaps the documents only contain stop words")
        # columns in alphabetical order of the terms, as scikit-learn
        terms = sorted(vocab)
        new_of_old = np.empty(len(terms), dtype=counts.indices.dtype)
        for new, term in enumerate(terms):
            new_of_old[vocab[term]] = new
        counts.indices = new_of_old[counts.indices]
        counts.has_sorted_indices = False
        counts.sort_indices()
        self.vocabulary_ = {t: i for i, t in enumerate(terms)}
        n_docs = counts.shape[0]
        df = np.bincount(counts.indices, minlength=len(terms)).astype(self.dtype)
        df += 1.0
        idf = np.full_like(df, n_docs + 1, dtype=self.dtype)
        idf /= df
        np.log(idf, out=idf)
        idf += 1.0
        self.idf_ = idf
        return self._weight(counts)

    def transform(self, docs: Iterable[str]):
        if self.vocabulary_ is None or self.idf_ is None:
            raise ValueError("this TfidfVectorizer is not fitted")
        return self._weight(self._counts(docs, self.vocabulary_, grow=False))

    # ------------------------------------------------------------------------------- helpers

    def _counts(self, docs: Iterable[str], vocab: dict[str, int], grow: bool):
        import scipy.sparse as sp

        vocab, cols, counts, indptr = count_ngrams(docs, self.build_analyzer(), vocab, grow)
        index_dtype = np.int32 if len(cols) < np.iinfo(np.int32).max else np.int64
        matrix = sp.csr_array(
            (counts.astype(self.dtype), cols.astype(index_dtype, copy=False), indptr.astype(index_dtype)),
            shape=(len(indptr) - 1, len(vocab)),
        )
        matrix.sort_indices()
        return matrix

    def _weight(self, counts):
        if self.sublinear_tf:
            np.log(counts.data, out=counts.data)
            counts.data += 1.0
        counts.data *= self.idf_[counts.indices]
        normalize_rows(counts)
        return counts


def count_ngrams(
    texts: Iterable[str], analyze: Callable[[str], list[str]], vocab: dict[str, int] | None = None, grow: bool = True
) -> tuple[dict[str, int], np.ndarray, np.ndarray, np.ndarray]:
    """One pass over the texts: ``(vocab, cols, counts, indptr)``, a CSR count matrix kept in compact
    arrays (scikit-learn keeps the column ids in a Python list, ~36 bytes each). New n-grams get the
    next id (order of first appearance) when ``grow``; otherwise n-grams outside ``vocab`` are
    dropped. ``vocab`` is updated in place."""
    vocab = {} if vocab is None else vocab
    cols = array.array("i")
    counts = array.array("i")
    indptr = array.array("q", [0])
    for text in texts:
        row: dict[int, int] = {}
        for gram in analyze(text):
            j = vocab.get(gram)
            if j is None:
                if not grow:
                    continue
                j = vocab[gram] = len(vocab)
            row[j] = row.get(j, 0) + 1
        cols.extend(row.keys())
        counts.extend(row.values())
        indptr.append(len(cols))
    return vocab, np.frombuffer(cols, dtype=np.int32), np.frombuffer(counts, dtype=np.int32), np.frombuffer(indptr, dtype=np.int64)


_WHITE_SPACES = re.compile(r"\s\s+")


def _char_wb_analyzer(preprocess: Callable[[str], str], lo: int, hi: int) -> Callable[[str], list[str]]:
    """scikit-learn's ``char_wb``: character n-grams inside words, words padded with a space."""

    def analyze(doc: str) -> list[str]:
        grams: list[str] = []
        append = grams.append
        for w in _WHITE_SPACES.sub(" ", preprocess(doc)).split():
            w = " " + w + " "
            w_len = len(w)
            for n in range(lo, hi + 1):
                offset = 0
                append(w[offset : offset + n])
                while offset + n < w_len:
                    offset += 1
                    append(w[offset : offset + n])
                if offset == 0:  # a short word (w_len < n) counts once
                    break
        return grams

    return analyze


def normalize_rows(matrix) -> None:
    """l2-normalise the rows of a CSR matrix in place (rows of zeros stay zero), summing each
    row's squares in order in double precision as scikit-learn's ``normalize`` does."""
    lengths = np.diff(matrix.indptr)
    rows = np.repeat(np.arange(matrix.shape[0]), lengths)
    data = matrix.data
    norms = np.sqrt(np.bincount(rows, weights=data * data, minlength=matrix.shape[0]))
    norms[norms == 0.0] = 1.0
    data /= norms[rows]
