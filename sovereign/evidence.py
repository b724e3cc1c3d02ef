"""Evidence verification: claims checked against passages of papers OTHER than their source.

Pipeline (all pure functions around two models, so each step is testable without a service):

1. :func:`passages_of` splits every paper into sentence passages.
2. :class:`EvidenceIndex` retrieves candidates for a claim by a hybrid of dense similarity (the
   run's embedder, FAISS) and lexical TF-IDF cosine; the claim's own source paper is excluded and
   scored separately as "self-reported" support.
3. :func:`pair_features` measures each (claim, passage) pair: lexical and dense similarity, how much
   of the claim the passage covers, and contradiction cues (negation on one side only, opposite
   comparatives, numbers that disagree).
4. :meth:`EvidenceIndex.claim_vector` summarises a claim's independent evidence (passage and
   document level, IDF-weighted novelty), and :class:`Calibration` — a
   multinomial logistic regression fitted on the project's dev set — turns it into probabilities
   of SUPPORTED / CONTRADICTED / UNSUPPORTED. The label is the most probable one and its
   probability, mapped by an isotonic fit of out-of-fold dev predictions to observed accuracy, is
   the confidence (so that 0.8 means about 80 % right).
"""

from __future__ import annotations

import json
import math
import re
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Sequence

import numpy as np
from pydantic import BaseModel, Field

from sovereign.adapters.embeddings import Embedder, make_tfidf
from sovereign.adapters.vector_index import VectorIndex
from sovereign.graph.state import Claim, Label, Paper, Verification
from sovereign.text import content_tokens, entities, mentions, numbers, shorten, split_sentences

EVIDENCE_METHOD = "evidence"
CANDIDATES = 24
"""Passages taken from each retriever (dense and lexical) before scoring."""

NEGATIONS = frozenset("not no never none neither nor cannot".split())
NEGATION_WINDOW = 4
"""A negation counts only when one of the next few words is content the other text shares."""
OPPOSITES = [
    ("increase", "decrease"), ("increases", "decreases"), ("higher", "lower"), ("more", "fewer"), ("more", "less"),
    ("faster", "slower"), ("better", "worse"), ("improves", "degrades"), ("improves", "hurts"), ("adds", "removes"),
    ("larger", "smaller"), ("above", "below"), ("outperforms", "underperforms"), ("before", "after"), ("gain", "loss"),
    ("reduces", "increases"), ("lowers", "raises"), ("frozen", "trained"), ("freezes", "updates"), ("same", "different"),
    ("convolutional", "transformer"), ("pixel", "latent"), ("supervised", "unsupervised"), ("linear", "quadratic"),
    ("exact", "approximate"), ("deterministic", "stochastic"), ("training-free", "fine-tuning"),
]
_OPPOSITE = {a: b for a, b in OPPOSITES} | {b: a for a, b in OPPOSITES}
_SUFFIXES = ("ations", "ation", "ings", "ing", "ies", "ied", "ers", "er", "es", "ed", "s", "ly")


@lru_cache(maxsize=1 << 16)
def stem(word: str) -> str:
    for suffix in _SUFFIXES:
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


@lru_cache(maxsize=1 << 14)
def stems(text: str) -> frozenset[str]:
    """The text's content-word stems (memoised: passages and papers are compared with every claim)."""
    return frozenset(stem(t) for t in content_tokens(text))


@dataclass(frozen=True)
class Passage:
    paper_id: str
    text: str


def passages_of(papers: Sequence[Paper], min_words: int = 5) -> list[Passage]:
    out = []
    for p in papers:
        for sentence in split_sentences(p.abstract):
            if len(sentence.split()) >= min_words:
                out.append(Passage(p.id, sentence))
        if not p.abstract:
            out.append(Passage(p.id, p.title))
    return out


# ----------------------------------------------------------------------------- features


FEATURES = ("lexical", "dense", "coverage", "entities", "negation", "opposite", "number_conflict")


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9\-]+", text.lower())


def negates_shared(text: str, other_stems: set[str]) -> bool:
    """Whether ``text`` negates something the other text talks about: a negator ("not", "no",
    "cannot", "n't"...) followed within a few words by a content stem the other text shares."""
    words = _words(text.replace("n't", " not"))
    for i, w in enumerate(words):
        if w == "not" and i + 1 < len(words) and words[i + 1] in ("only", "just", "merely"):
            continue  # "not only X but also Y" affirms X
        if w in NEGATIONS and any(stem(x) in other_stems for x in words[i + 1 : i + 1 + NEGATION_WINDOW]):
            return True
    return False


def pair_features(claim: str, passage: str, lexical: float, dense: float) -> dict[str, float]:
    """Measured features of one (claim, passage) pair (pure)."""
    c_stems, p_stems = stems(claim), stems(passage)
    coverage = len(c_stems & p_stems) / len(c_stems) if c_stems else 0.0
    c_words, p_words = set(_words(claim)), set(_words(passage))
    c_neg = negates_shared(claim, p_stems)
    p_neg = negates_shared(passage, c_stems)
    opposite = any(_OPPOSITE.get(w) in p_words and w not in p_words for w in c_words if w in _OPPOSITE)
    ents = entities(claim)
    entity_share = sum(mentions(passage, e) for e in ents) / len(ents) if ents else coverage
    c_nums, p_nums = numbers(claim), numbers(passage)
    number_conflict = bool(c_nums and p_nums and not (c_nums & p_nums) and coverage >= 0.3)
    return {
        "lexical": float(lexical),
        "dense": float(dense),
        "coverage": coverage,
        "entities": entity_share,
        "negation": 1.0 if c_neg != p_neg else 0.0,
        "opposite": 1.0 if opposite else 0.0,
        "number_conflict": 1.0 if number_conflict else 0.0,
    }


def relatedness(f: dict[str, float], weights: dict[str, float]) -> float:
    """How strongly the passage speaks about what the claim says (0..1)."""
    return (
        weights["w_lexical"] * f["lexical"]
        + weights["w_dense"] * max(0.0, f["dense"])
        + weights["w_coverage"] * f["coverage"]
        + weights["w_entities"] * f["entities"]
    )


def contradiction_cue(f: dict[str, float]) -> float:
    return max(f["negation"], f["opposite"], f["number_conflict"])


# ----------------------------------------------------------------------------- calibration

CLAIM_FEATURES = (
    "best_rel", "best_lexical", "best_dense", "best_coverage", "best_entities",
    "best_negation", "best_opposite", "best_number_conflict", "contra_margin", "max_lexical", "max_coverage",
    # document level: the top three candidate papers as wholes (support can span sentences)
    "doc_coverage", "novel_numbers", "novel_entities", "char_similarity",
    "idf_doc_coverage", "idf_novelty", "idf_passage_coverage",
)
PASSAGE_FEATURES = 11
LABEL_ORDER = ("SUPPORTED", "CONTRADICTED", "UNSUPPORTED")

DEFAULT_PARAMS: dict = {
    # weights that pick each claim's best passage; the label model is fitted on the dev set and
    # stored in data/calibration.json (`sovereign eval calibrate`)
    "w_lexical": 0.35,
    "w_dense": 0.25,
    "w_coverage": 0.25,
    "w_entities": 0.15,
    "model": None,
    "fitted_on": "defaults (no calibration file)",
}


def passage_vector(independent: list["Scored"]) -> list[float]:
    """Passage-level features of a claim's independent evidence (pure): the best passage's
    measurements, the strongest passage carrying a contradiction cue, the best lexical/coverage."""
    if not independent:
        return [0.0] * PASSAGE_FEATURES
    best = independent[0]
    f = best.features
    # a contradiction cue counts by how much the cue-carrying passage out-matches every passage
    # without a cue (a related sentence that merely lacks the claim's negation is no contradiction)
    cue_rel = max((s.rel for s in independent if s.cue > 0), default=0.0)
    plain_rel = max((s.rel for s in independent if s.cue == 0), default=0.0)
    contra = cue_rel - plain_rel if cue_rel > 0 else -1.0
    return [
        best.rel, f["lexical"], max(0.0, f["dense"]), f["coverage"], f["entities"],
        f["negation"], f["opposite"], f["number_conflict"], contra,
        max(s.features["lexical"] for s in independent), max(s.features["coverage"] for s in independent),
    ]


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max()
    e = np.exp(z)
    return e / e.sum()


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, x))))


@dataclass
class Calibration:
    """The fitted label model: multinomial logistic regression over :data:`CLAIM_FEATURES`
    (standardised), temperature-scaled; its class probabilities are the confidences."""

    params: dict = field(default_factory=lambda: dict(DEFAULT_PARAMS))

    @property
    def fitted_on(self) -> str:
        return str(self.params.get("fitted_on", "?"))

    def confidence(self, p_label: float) -> float:
        """Probability that the chosen label is right: the label's model probability mapped through
        the isotonic map fitted on out-of-fold dev predictions (identity without a map)."""
        m = (self.params.get("model") or {}).get("confidence_map")
        if not m or not m.get("x"):
            return float(p_label)
        return float(np.interp(p_label, m["x"], m["y"]))

    def probabilities(self, vector: list[float]) -> dict[str, float]:
        model = self.params.get("model")
        if not model or len(model["mean"]) != len(vector):  # no (matching) calibration: a plain, uncalibrated rule
            rel, contra = vector[0], vector[8]
            if contra > 0 and sum(vector[5:8]) > 0:
                return {"SUPPORTED": 0.2, "CONTRADICTED": 0.5, "UNSUPPORTED": 0.3}
            p = _sigmoid(8 * (rel - 0.45))
            return {"SUPPORTED": p, "CONTRADICTED": 0.0, "UNSUPPORTED": 1 - p}
        x = (np.asarray(vector) - np.asarray(model["mean"])) / np.asarray(model["scale"])
        z = np.asarray(model["coef"]) @ x + np.asarray(model["intercept"])
        probs = _softmax(z / float(model.get("temperature", 1.0)))
        return {label: float(p) for label, p in zip(model["classes"], probs)}


def calibration_path() -> str:
    return str(resources.files("sovereign.data").joinpath("calibration.json"))


@lru_cache(maxsize=1)
def load_calibration() -> Calibration:
    try:
        with open(calibration_path(), encoding="utf-8") as fh:
            return Calibration({**DEFAULT_PARAMS, **json.load(fh)})
    except (OSError, ValueError):
        return Calibration()


def reference_idf(reference: Sequence[Paper] | None = None):
    """Inverse document frequency of word stems, from ``reference`` papers or the bundled corpus
    (a fixed reference, so features mean the same whatever the size of the retrieved set)."""
    if reference is not None:
        return _idf_from(tuple(p.text for p in reference))
    return _bundled_idf()


@lru_cache(maxsize=1)
def _bundled_idf():
    from sovereign.adapters.corpus import load_corpus

    return _idf_from(tuple(p.text for p in load_corpus().papers))


@lru_cache(maxsize=4)
def _idf_from(texts: tuple[str, ...]):
    from collections import Counter

    df: Counter[str] = Counter()
    for t in texts:
        df.update(stems(t))
    n = len(texts)
    table = {w: math.log((n + 1) / (c + 1)) + 1.0 for w, c in df.items()}
    unseen = math.log(n + 1) + 1.0
    return lambda w: table.get(w, unseen)


# ----------------------------------------------------------------------------- retrieval


@dataclass
class Scored:
    passage: Passage
    features: dict[str, float]
    rel: float
    cue: float


class EvidenceIndex:
    """Hybrid (dense FAISS + lexical TF-IDF) index over the sentence passages of a paper set."""

    def __init__(self, papers: Sequence[Paper], embedder: Embedder | None, reference: Sequence[Paper] | None = None):
        from sovereign.tfidf import TfidfVectorizer

        self.passages = passages_of(papers)
        texts = [p.text for p in self.passages]
        self.lexical = make_tfidf(ngram_range=(1, 2), sublinear_tf=True, stop_words="english")
        self.matrix = self.lexical.fit_transform(texts) if texts else None
        self.char = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True) if texts else None
        self.char_matrix = self.char.fit_transform(texts) if texts else None
        self.paper_text = {p.id: p.text for p in papers}
        self.paper_stems = {p.id: stems(p.text) for p in papers}
        self.idf = reference_idf(reference)
        self.embedder = embedder
        self.dense = VectorIndex(embedder.embed_documents(texts)) if (embedder and texts) else None

    def candidates(self, claims: Sequence[str]) -> tuple[np.ndarray, np.ndarray | None]:
        """(lexical cosine matrix claims x passages, dense cosine matrix or None)."""
        lex = (self.lexical.transform(list(claims)) @ self.matrix.T).toarray()
        dense = None
        if self.dense is not None:
            if hasattr(self.embedder, "embed_queries"):  # one request for all claims
                q = self.embedder.embed_queries(list(claims))
            else:
                q = np.vstack([self.embedder.embed_query(c) for c in claims])
            dense = np.zeros_like(lex)
            scores, ids = self.dense.search(q, min(len(self.passages), 4 * CANDIDATES))
            for i in range(len(claims)):
                for s, j in zip(scores[i], ids[i]):
                    if j >= 0:
                        dense[i, j] = s
        return lex, dense

    def claim_vector(self, claim: Claim, independent: list[Scored]) -> list[float]:
        """All :data:`CLAIM_FEATURES` of one claim: passage level plus document level (top 3 papers)."""
        base = passage_vector(independent)
        pids = list(dict.fromkeys(s.passage.paper_id for s in independent))[:3]
        c_stems = stems(claim.text)
        weight = sum(self.idf(w) for w in c_stems) or 1.0
        doc_cov, idf_cov, novel_nums, novel_ents, idf_nov = 0.0, 0.0, 9.0, 9.0, 99.0
        for pid in pids:
            text, p_stems = self.paper_text[pid], self.paper_stems[pid]
            doc_cov = max(doc_cov, len(c_stems & p_stems) / max(1, len(c_stems)))
            idf_cov = max(idf_cov, sum(self.idf(w) for w in c_stems & p_stems) / weight)
            idf_nov = min(idf_nov, sum(self.idf(w) for w in c_stems - p_stems))
            novel_nums = min(novel_nums, float(sum(n not in numbers(text) for n in numbers(claim.text))))
            novel_ents = min(novel_ents, float(sum(not mentions(text, e) for e in entities(claim.text))))
        if not pids:
            novel_nums, novel_ents, idf_nov = 0.0, 0.0, sum(self.idf(w) for w in c_stems)
        char_sim = 0.0
        if self.char is not None:
            sims = (self.char.transform([claim.text]) @ self.char_matrix.T).toarray().ravel()
            mask = np.array([p.paper_id != claim.source_id for p in self.passages])
            char_sim = float(sims[mask].max()) if mask.any() else 0.0
        best_passage = stems(independent[0].passage.text) if independent else set()
        idf_pcov = sum(self.idf(w) for w in c_stems & best_passage) / weight
        return base + [doc_cov, novel_nums, novel_ents, char_sim, idf_cov, idf_nov, idf_pcov]

    def score_claims(self, claims: Sequence[Claim], params: dict) -> list[tuple[list[Scored], list[Scored]]]:
        """For each claim: (scored independent candidates, best first; scored self passages)."""
        if not self.passages or not claims:
            return [([], []) for _ in claims]
        lex, dense = self.candidates([c.text for c in claims])
        out = []
        for i, claim in enumerate(claims):
            order_lex = np.argsort(-lex[i])[:CANDIDATES]
            order_dense = np.argsort(-dense[i])[:CANDIDATES] if dense is not None else []
            pool = dict.fromkeys([*order_lex.tolist(), *list(order_dense)])
            independent, own = [], []
            for j in pool:
                passage = self.passages[j]
                f = pair_features(claim.text, passage.text, lex[i, j], dense[i, j] if dense is not None else 0.0)
                s = Scored(passage, f, relatedness(f, params), contradiction_cue(f))
                (own if passage.paper_id == claim.source_id else independent).append(s)
            independent.sort(key=lambda s: (-s.rel, s.passage.paper_id))
            own.sort(key=lambda s: -s.rel)
            out.append((independent, own))
        return out


_indexes: dict[tuple, Future] = {}
_indexes_lock = threading.Lock()


def _index_key(papers: Sequence[Paper], embedder: Embedder | None, reference: Sequence[Paper] | None) -> tuple:
    ref = None if reference is None else tuple((p.id, p.text) for p in reference)
    return tuple((p.id, p.text) for p in papers), id(embedder) if embedder is not None else None, ref


def prepare_evidence_index(papers: Sequence[Paper], embedder: Embedder | None, reference: Sequence[Paper] | None = None) -> None:
    """Start building the evidence index of ``papers`` in a background thread (in a copy of the
    caller's context, so the run's deadline applies), for :func:`evidence_index` to pick up: the
    extractor calls this before its model call, so the verifier finds the index ready instead of
    building it after the claims arrive."""
    import contextvars

    key = _index_key(papers, embedder, reference)
    with _indexes_lock:
        if key in _indexes:
            return
        while len(_indexes) >= 4:
            _indexes.pop(next(iter(_indexes)))
        future: Future = Future()
        _indexes[key] = future
    papers, context = list(papers), contextvars.copy_context()

    def build() -> None:
        try:
            future.set_result(context.run(EvidenceIndex, papers, embedder, reference))
        except BaseException as exc:  # the verifier rebuilds and meets the error itself
            future.set_exception(exc)

    threading.Thread(target=build, name="sovereign-evidence-index", daemon=True).start()


def evidence_index(papers: Sequence[Paper], embedder: Embedder | None, reference: Sequence[Paper] | None = None) -> "EvidenceIndex":
    """The evidence index of ``papers``: the one :func:`prepare_evidence_index` started, else built now."""
    key = _index_key(papers, embedder, reference)
    with _indexes_lock:
        future = _indexes.pop(key, None)
    if future is not None:
        try:
            return future.result()
        except Exception:
            pass
    return EvidenceIndex(papers, embedder, reference)


def verify_with_evidence(
    claims: Sequence[Claim],
    papers: Sequence[Paper],
    embedder: Embedder | None,
    calibration: Calibration | None = None,
    client=None,
    notes: list[str] | None = None,
    reference: Sequence[Paper] | None = None,
) -> list[Verification]:
    """The evidence verifier: offline deterministic scorer, or the NIM judge when ``client`` is
    given (per claim, falling back to the offline label when the judge fails)."""
    cal = calibration or load_calibration()
    index = evidence_index(papers, embedder, reference)
    scored = index.score_claims(claims, cal.params)
    vectors = [index.claim_vector(c, ind) for c, (ind, _) in zip(claims, scored)]
    offline = [verification_from_scored(c, ind, own, cal, v) for c, (ind, own), v in zip(claims, scored, vectors)]
    if client is None:
        return offline
    from sovereign.concurrency import map_in_threads

    def one(i: int) -> Verification:
        independent, own = scored[i]
        judged, note = judge_claim(client, claims[i], independent, own, cal, vectors[i])
        if judged is None:
            if note and notes is not None:
                notes.append(note)
            return offline[i]
        return judged

    return map_in_threads(one, range(len(claims)), client.cfg.max_concurrency)


JUDGE_PASSAGES = 3


class JudgeReply(BaseModel):
    label: Label
    evidence_id: str | None = Field(default=None, description="Id of the passage the label rests on.")
    quote: str | None = Field(default=None, description="Verbatim sentence from that passage.")


def quote_matches(quote: str, passage: str) -> bool:
    """The judge's quote must come from the passage (normalised containment or 80 % word overlap)."""
    q, p = " ".join(quote.lower().split()), " ".join(passage.lower().split())
    if q and q in p:
        return True
    qw = set(_words(quote))
    return bool(qw) and len(qw & set(_words(passage))) / len(qw) >= 0.8


def judge_claim(
    client, claim: Claim, independent: list[Scored], own: list[Scored], cal: Calibration, vector: list[float]
) -> tuple[Verification | None, str | None]:
    from sovereign.llm import structured
    from sovereign.prompts import judge as prompt
    from sovereign.prompts.fencing import new_nonce

    top = independent[:JUDGE_PASSAGES]
    if not top:
        return None, None
    labels = {f"E{k + 1}:{s.passage.paper_id}": s for k, s in enumerate(top)}
    nonce = new_nonce()
    reply, note = structured(
        client, prompt.system(nonce), prompt.user(claim.text, [(k, s.passage.text) for k, s in labels.items()], nonce),
        JudgeReply, f"Evidence judge ({claim.id})",
    )
    if reply is None:
        return None, note
    chosen = labels.get(reply.evidence_id or "") or next((s for k, s in labels.items() if k.split(":", 1)[-1] == reply.evidence_id), None)
    if reply.label != "UNSUPPORTED" and (chosen is None or not reply.quote or not quote_matches(reply.quote, chosen.passage.text)):
        return None, f"Evidence judge ({claim.id}): the quote did not match a given passage; used the offline label instead."
    chosen = chosen or top[0]
    ranked_papers = list(dict.fromkeys(s.passage.paper_id for s in independent))[:3]
    probs = cal.probabilities(vector)
    return (
        Verification(
            claim_id=claim.id,
            method=EVIDENCE_METHOD,
            verified=reply.label == "SUPPORTED",
            confidence=round(cal.confidence(probs[reply.label]), 4),
            p_supported=round(probs["SUPPORTED"], 4),
            label=reply.label,
            evidence_id=chosen.passage.paper_id,
            evidence_ids=ranked_papers,
            evidence_quote=shorten(chosen.passage.text, 240),
            independent=True,
            self_score=round(own[0].rel, 4) if own else None,
            self_quote=shorten(own[0].passage.text, 240) if own else None,
            score=round(chosen.rel, 4),
            judge="llm",
        ),
        None,
    )


def verification_from_scored(
    claim: Claim, independent: list[Scored], own: list[Scored], cal: Calibration, vector: list[float]
) -> Verification:
    """Label, confidence and evidence for one claim from its scored passages and features (pure)."""
    probs = cal.probabilities(vector)
    label = max(LABEL_ORDER, key=lambda lab: probs[lab])
    confidence = cal.confidence(probs[label])
    best = independent[0] if independent else None
    contra = max((s for s in independent if s.cue > 0), key=lambda s: s.rel, default=None)
    chosen = contra if (label == "CONTRADICTED" and contra is not None) else best
    ranked_papers = list(dict.fromkeys(s.passage.paper_id for s in independent))[:3]
    return Verification(
        claim_id=claim.id,
        method=EVIDENCE_METHOD,
        verified=label == "SUPPORTED",
        confidence=round(confidence, 4),
        p_supported=round(probs["SUPPORTED"], 4),
        label=label,
        evidence_id=chosen.passage.paper_id if chosen else None,
        evidence_ids=ranked_papers,
        evidence_quote=shorten(chosen.passage.text, 240) if chosen else None,
        independent=chosen is not None,
        self_score=round(own[0].rel, 4) if own else None,
        self_quote=shorten(own[0].passage.text, 240) if own else None,
        score=round(chosen.rel, 4) if chosen else 0.0,
        cue=cue_of(chosen) if label == "CONTRADICTED" else None,
    )


def cue_of(scored: Scored | None) -> str | None:
    """Which explicit contradiction cue the passage carries, if any."""
    if scored is None:
        return None
    for name in ("negation", "opposite", "number_conflict"):
        if scored.features.get(name):
            return name
    return None


def warm_up() -> None:
    """Pay the verifier's one-off costs (word statistics of the reference corpus, first use of the
    vectorisers and scorers) ahead of time, e.g. in a background thread while a model call is out."""
    from sovereign.adapters.corpus import load_corpus

    papers = list(load_corpus().papers[:3])
    reference_idf()
    if len(papers) >= 2:
        index = EvidenceIndex(papers, None)
        claim = Claim(id="warm", text=papers[0].title, source_id=papers[0].id)
        [(independent, _)] = index.score_claims([claim], DEFAULT_PARAMS)
        verification_from_scored(claim, independent, [], load_calibration(), index.claim_vector(claim, independent))
