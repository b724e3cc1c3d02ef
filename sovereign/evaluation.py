"""Evaluation harness for verifiers, and the fit of the evidence verifier's calibration.

``sovereign eval verify`` compares verifiers side by side on a labelled claims file;
``sovereign eval calibrate`` fits the evidence verifier's thresholds and Platt scalers on a dev
file and writes ``data/calibration.json``.

Claims file: one JSON object a line,
``{"id": str, "claim": str, "label": "SUPPORTED"|"CONTRADICTED"|"UNSUPPORTED", "source_id": str|null,
"evidence_ids": [str]}``. Every claim is checked against the whole corpus (minus its source for the
evidence method; the tfidf baseline, like the seeds, also sees the source).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Sequence

import numpy as np
from pydantic import BaseModel, Field, ValidationError

from sovereign.graph.state import Claim, Label, Paper, Verification

LABELS = ("SUPPORTED", "CONTRADICTED", "UNSUPPORTED")
METHODS = ("tfidf", "evidence")


class LabelledClaim(BaseModel):
    id: str
    claim: str = Field(min_length=1)
    label: Label
    source_id: str | None = None
    evidence_ids: list[str] = Field(default_factory=list)


class EvalInputError(ValueError):
    pass


def read_claims(path: str) -> list[LabelledClaim]:
    p = Path(path)
    if not p.is_file():
        raise EvalInputError(f"claims file not found: {path}")
    out = []
    for lineno, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(LabelledClaim.model_validate_json(line))
        except ValidationError as exc:
            first = exc.errors()[0]
            raise EvalInputError(f"{path} line {lineno}: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    if not out:
        raise EvalInputError(f"claims file {path} holds no claims")
    return out


# ----------------------------------------------------------------------------- metrics (pure)


def prf(gold: Sequence[bool], pred: Sequence[bool]) -> tuple[float, float, float]:
    tp = sum(g and p for g, p in zip(gold, pred))
    fp = sum((not g) and p for g, p in zip(gold, pred))
    fn = sum(g and not p for g, p in zip(gold, pred))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def macro_f1(gold: Sequence[str], pred: Sequence[str]) -> float:
    return float(np.mean([prf([g == lab for g in gold], [p == lab for p in pred])[2] for lab in LABELS]))


def auroc(labels: Sequence[bool], scores: Sequence[float]) -> float | None:
    """Probability that a random positive scores above a random negative (ties count half)."""
    pos = [s for y, s in zip(labels, scores) if y]
    neg = [s for y, s in zip(labels, scores) if not y]
    if not pos or not neg:
        return None
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def expected_calibration_error(confidences: Sequence[float], correct: Sequence[bool], bins: int = 10) -> float:
    conf = np.asarray(confidences, dtype=float)
    corr = np.asarray(correct, dtype=float)
    if not len(conf):
        return 0.0
    edges = np.linspace(0.0, 1.0, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        mask = (conf > lo) & (conf <= hi) if lo > 0 else (conf >= lo) & (conf <= hi)
        if mask.any():
            ece += mask.mean() * abs(conf[mask].mean() - corr[mask].mean())
    return float(ece)


def score_method(claims: Sequence[LabelledClaim], results: Sequence[Verification], seconds: float) -> dict:
    gold = [c.label for c in claims]
    pred = [r.label for r in results]
    correct = [g == p for g, p in zip(gold, pred)]
    precision, recall, f1 = prf([g == "SUPPORTED" for g in gold], [r.verified for r in results])
    with_evidence = [(c, r) for c, r in zip(claims, results) if c.evidence_ids]
    hits = [bool(set(c.evidence_ids) & set(r.evidence_ids[:3])) for c, r in with_evidence]
    return {
        "claims": len(claims),
        "accuracy": round(float(np.mean(correct)), 4),
        "macro_f1": round(macro_f1(gold, pred), 4),
        "verified_precision": round(precision, 4),
        "verified_recall": round(recall, 4),
        "verified_f1": round(f1, 4),
        "auroc_verified": None if (a := auroc([g == "SUPPORTED" for g in gold], [r.p_supported for r in results])) is None else round(a, 4),
        "evidence_hit_at_3": round(float(np.mean(hits)), 4) if hits else None,
        "ece": round(expected_calibration_error([r.confidence for r in results], correct), 4),
        "claims_per_second": round(len(claims) / seconds, 2) if seconds > 0 else None,
        "label_counts": {lab: pred.count(lab) for lab in LABELS},
    }


# ----------------------------------------------------------------------------- running verifiers


def _claim_objects(claims: Sequence[LabelledClaim]) -> list[Claim]:
    return [Claim(id=c.id, text=c.claim, source_id=c.source_id or "", extractor="eval") for c in claims]


def run_method(method: str, claims: Sequence[LabelledClaim], papers: Sequence[Paper], embedder, threshold: float = 0.15, calibration=None) -> tuple[list[Verification], float]:
    from sovereign.agents.verifier import tfidf_verify
    from sovereign.evidence import verify_with_evidence

    t0 = time.perf_counter()
    objs = _claim_objects(claims)
    if method == "tfidf":
        results = tfidf_verify(objs, list(papers), threshold)
    elif method == "evidence":
        results = verify_with_evidence(objs, papers, embedder, calibration, reference=papers)
    else:
        raise EvalInputError(f"unknown method {method!r} (known: {', '.join(METHODS)})")
    return results, time.perf_counter() - t0


def evaluate(claims_path: str, corpus_path: str | None, methods: Sequence[str], threshold: float = 0.15) -> dict:
    from sovereign.adapters.corpus import load_corpus
    from sovereign.adapters.local_source import searcher_for

    for m in methods:
        if m not in METHODS:
            raise EvalInputError(f"unknown method {m!r} (known: {', '.join(METHODS)})")
    claims = read_claims(claims_path)
    corpus = load_corpus(corpus_path)
    embedder = searcher_for(corpus).embedder
    report = {"claims_file": claims_path, "corpus": corpus.path, "corpus_papers": len(corpus.papers), "methods": {}}
    for m in methods:
        results, seconds = run_method(m, claims, corpus.papers, embedder, threshold)
        report["methods"][m] = score_method(claims, results, seconds)
    return report


def format_table(report: dict) -> str:
    methods = list(report["methods"])
    rows = [
        ("accuracy", "accuracy"), ("macro-F1 (3 labels)", "macro_f1"), ("verified precision", "verified_precision"),
        ("verified recall", "verified_recall"), ("verified F1", "verified_f1"), ("AUROC (verified)", "auroc_verified"),
        ("evidence hit@3", "evidence_hit_at_3"), ("ECE", "ece"), ("claims / second", "claims_per_second"),
    ]
    width = max(len(r[0]) for r in rows) + 2
    lines = [f"{report['claims_file']}: {next(iter(report['methods'].values()))['claims']} claims, corpus of {report['corpus_papers']} papers"]
    lines.append("metric".ljust(width) + "".join(m.rjust(12) for m in methods))
    for title, key in rows:
        cells = []
        for m in methods:
            v = report["methods"][m][key]
            cells.append(("—" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)).rjust(12))
        lines.append(title.ljust(width) + "".join(cells))
    return "\n".join(lines)


# ----------------------------------------------------------------------------- calibration fit


NEGATIONS = ((" is ", " is not "), (" are ", " are not "), (" can ", " cannot "), (" uses ", " does not use "),
             (" improves ", " does not improve "), (" reduces ", " does not reduce "), (" outperforms ", " does not outperform "))


def synthetic_claims(papers: Sequence[Paper], n: int = 40, seed: int = 0) -> list[LabelledClaim]:
    """Deterministic extra training claims made from the corpus itself (documented in data/eval):
    a paper's sentence restated verbatim (SUPPORTED by that paper), the same sentence with a
    negation inserted (CONTRADICTED by it), and — the situation of every claim the kernel extracts —
    a paper's sentence checked with that paper as its excluded source (UNSUPPORTED: other papers
    discuss the subject but do not state it; a few may in fact restate it, which is label noise).
    They teach the label model that copying is support, a flipped statement is contradiction, and a
    related but different statement is neither."""
    import random

    from sovereign.text import split_sentences

    rng = random.Random(seed)
    pool = [(p.id, s) for p in papers for s in split_sentences(p.abstract) if 10 <= len(s.split()) <= 35]
    rng.shuffle(pool)
    out: list[LabelledClaim] = []
    for pid, sentence in pool:
        if len(out) >= 2 * n:
            break
        k = len(out) // 2
        neg = next(((a, b) for a, b in NEGATIONS if a in sentence), None)
        if neg is None:
            continue
        out.append(LabelledClaim(id=f"syn-s{k}", claim=sentence, label="SUPPORTED", source_id=None, evidence_ids=[pid]))
        out.append(LabelledClaim(id=f"syn-c{k}", claim=sentence.replace(neg[0], neg[1], 1), label="CONTRADICTED", source_id=None, evidence_ids=[pid]))
    used = {c.claim for c in out}
    own = [(pid, s) for pid, s in pool if s not in used][:n]
    out += [LabelledClaim(id=f"syn-u{k}", claim=s, label="UNSUPPORTED", source_id=pid, evidence_ids=[]) for k, (pid, s) in enumerate(own)]
    return out


def fit_calibration(claims_path: str | Sequence[str], corpus_path: str | None = None, seed: int = 0) -> dict:
    """Fit the evidence verifier's label model on labelled dev claims.

    Multinomial logistic regression (balanced classes) over :data:`sovereign.evidence.CLAIM_FEATURES`,
    then a temperature fitted on 5-fold out-of-fold predictions so that the class probabilities
    are calibrated (minimum negative log-likelihood). Deterministic for a given file and corpus.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from sklearn.preprocessing import StandardScaler

    from sovereign.adapters.corpus import load_corpus
    from sovereign.adapters.local_source import searcher_for
    from sovereign.evidence import CLAIM_FEATURES, DEFAULT_PARAMS, EvidenceIndex

    paths = [claims_path] if isinstance(claims_path, str) else list(claims_path)
    claims = [c for path in paths for c in read_claims(path)]
    corpus = load_corpus(corpus_path)
    written = len(claims)
    claims = claims + synthetic_claims(corpus.papers, seed=seed)
    index = EvidenceIndex(corpus.papers, searcher_for(corpus).embedder, corpus.papers)
    objs = _claim_objects(claims)
    scored = index.score_claims(objs, DEFAULT_PARAMS)
    x = np.array([index.claim_vector(o, independent) for o, (independent, _) in zip(objs, scored)])
    y = np.array([c.label for c in claims])

    def fit(xs, ys, c):
        scaler = StandardScaler().fit(xs)
        lr = LogisticRegression(C=c, class_weight="balanced", max_iter=5000).fit(scaler.transform(xs), ys)
        return scaler, lr

    classes = sorted(set(y))
    folds = list(StratifiedKFold(n_splits=5, shuffle=True, random_state=seed).split(x, y))

    def out_of_fold(c):
        oof = np.zeros((len(y), len(classes)))
        for train, test in folds:
            scaler, lr = fit(x[train], y[train], c)
            oof[test] = lr.decision_function(scaler.transform(x[test]))
        return oof

    def probs_of(logits, t):
        z = logits / t
        z = z - z.max(axis=1, keepdims=True)
        p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        return p

    # regularisation chosen by 5-fold cross-validated macro-F1 on the dev claims only
    c_best = max((0.1, 0.3, 1.0, 3.0), key=lambda c: macro_f1(list(y), [classes[i] for i in probs_of(out_of_fold(c), 1.0).argmax(axis=1)]))
    oof = out_of_fold(c_best)
    y_idx = np.array([classes.index(v) for v in y])

    def nll(t: float) -> float:
        p = probs_of(oof, t)[np.arange(len(y)), y_idx]
        return float(-np.log(np.clip(p, 1e-9, 1.0)).mean())

    temperature = min(np.arange(0.3, 4.01, 0.05), key=nll)
    oof_probs = probs_of(oof, temperature)
    oof_pred = [classes[i] for i in oof_probs.argmax(axis=1)]
    # the confidence of the chosen label, mapped to the observed accuracy (isotonic, out of fold)
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(
        oof_probs.max(axis=1), [p == t for p, t in zip(oof_pred, y)]
    )
    scaler, lr = fit(x, y, c_best)
    params = dict(DEFAULT_PARAMS)
    params["model"] = {
        "features": list(CLAIM_FEATURES),
        "classes": [str(c) for c in lr.classes_],
        "mean": [round(float(v), 6) for v in scaler.mean_],
        "scale": [round(float(v), 6) for v in scaler.scale_],
        "coef": [[round(float(v), 6) for v in row] for row in lr.coef_],
        "intercept": [round(float(v), 6) for v in lr.intercept_],
        "temperature": round(float(temperature), 3),
        "C": c_best,
        "confidence_map": {
            "x": [round(float(v), 6) for v in iso.X_thresholds_],
            "y": [round(float(v), 6) for v in iso.y_thresholds_],
        },
    }
    params["fitted_on"] = (
        f"{' + '.join(Path(p).name for p in paths)} ({written} dev claims + {len(claims) - written} synthetic "
        "restatements/negations/own-source sentences, "
        "offline LSA embedder)"
    )
    params["dev_macro_f1_out_of_fold"] = round(macro_f1(list(y), oof_pred), 4)
    params["dev_macro_f1"] = params["dev_macro_f1_out_of_fold"]
    return params
