"""Verifier: checks each claim against the retrieved papers.

``tfidf`` is the seeds' baseline, kept exactly: TF-IDF over word unigrams + bigrams, cosine of the
claim against every retrieved document, confidence = the maximum cosine, verified when it reaches
the threshold (0.15). Like the seeds it also counts the claim's own source paper; the report says
whether the best match was the source itself (self-reported) or an independent paper.
"""

from __future__ import annotations

import numpy as np
from langgraph.runtime import Runtime

from sovereign.adapters.embeddings import make_tfidf
from sovereign.graph.configuration import Configuration
from sovereign.graph.state import Claim, Paper, ResearchState, Verification
from sovereign.text import shorten, split_sentences

TFIDF_METHOD = "tfidf"


def best_sentence(claim: str, text: str) -> str:
    """The sentence of ``text`` sharing most words with ``claim`` (the quote shown as evidence)."""
    words = set(claim.lower().split())
    sentences = split_sentences(text) or [text]
    return max(sentences, key=lambda s: len(words & set(s.lower().split())))


def tfidf_verify(claims: list[Claim], papers: list[Paper], threshold: float) -> list[Verification]:
    """The seeds' baseline verifier (pure)."""
    if not claims:
        return []
    if not papers:
        return [Verification(claim_id=c.id, method=TFIDF_METHOD, verified=False, confidence=0.0) for c in claims]
    docs = [p.text for p in papers]
    vec = make_tfidf(ngram_range=(1, 2))
    vec.fit(docs + [c.text for c in claims])
    sims = (vec.transform([c.text for c in claims]) @ vec.transform(docs).T).toarray()
    out = []
    for ci, claim in enumerate(claims):
        row = sims[ci]
        best = int(np.argmax(row))
        conf = float(np.clip(row[best], 0.0, 1.0))
        own = [j for j, p in enumerate(papers) if p.id == claim.source_id]
        verified = conf >= threshold
        out.append(
            Verification(
                claim_id=claim.id,
                method=TFIDF_METHOD,
                verified=verified,
                confidence=round(conf, 4),
                label="SUPPORTED" if verified else "UNSUPPORTED",
                evidence_id=papers[best].id,
                evidence_quote=shorten(best_sentence(claim.text, papers[best].abstract or papers[best].title), 200),
                independent=papers[best].id != claim.source_id,
                self_score=round(float(row[own[0]]), 4) if own else None,
            )
        )
    return out


def verify(state: ResearchState, runtime: Runtime[Configuration]) -> dict:
    cfg = Configuration.from_runtime(runtime)
    papers = [r.paper for r in state.papers]
    return {"verifications": tfidf_verify(state.claims, papers, cfg.verify_threshold)}
