"""Verifier: checks each claim against the retrieved papers.

``evidence`` (default): evidence passages from papers OTHER than the claim's source, hybrid
retrieval (FAISS + lexical), a SUPPORTED / CONTRADICTED / UNSUPPORTED label and a calibrated
confidence; see :mod:`sovereign.evidence`. The source's own support is kept apart as
"self-reported".

``tfidf`` is the seeds' baseline, kept exactly: TF-IDF over word unigrams + bigrams, cosine of the
claim against every retrieved document, confidence = the maximum cosine, verified when it reaches
the threshold (0.15). Like the seeds it also counts the claim's own source paper; the report says
whether the best match was the source itself (self-reported) or an independent paper. It runs on
every report, next to the chosen method, so the two can be compared.
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
        top3 = list(dict.fromkeys(papers[j].id for j in np.argsort(-row, kind="stable")))[:3]
        conf = float(np.clip(row[best], 0.0, 1.0))
        own = [j for j, p in enumerate(papers) if p.id == claim.source_id]
        verified = conf >= threshold
        out.append(
            Verification(
                claim_id=claim.id,
                method=TFIDF_METHOD,
                verified=verified,
                confidence=round(conf, 4),
                p_supported=round(conf, 4),
                label="SUPPORTED" if verified else "UNSUPPORTED",
                evidence_id=papers[best].id,
                evidence_ids=top3,
                evidence_quote=shorten(best_sentence(claim.text, papers[best].abstract or papers[best].title), 200),
                independent=papers[best].id != claim.source_id,
                self_score=round(float(row[own[0]]), 4) if own else None,
            )
        )
    return out


def verify(state: ResearchState, runtime: Runtime[Configuration]) -> dict:
    cfg = Configuration.from_runtime(runtime)
    papers = [r.paper for r in state.papers]
    baseline = tfidf_verify(state.claims, papers, cfg.verify_threshold)
    if cfg.verify_method == TFIDF_METHOD:
        return {"verifications": baseline, "baseline": baseline, "agents": {"verifier": "tfidf (the seeds' baseline)"}}
    from sovereign.adapters.models import chat_client, embedder_for
    from sovereign.evidence import verify_with_evidence
    from sovereign.llm import model_label

    client = chat_client(cfg)
    notes: list[str] = []
    try:
        embedder = embedder_for(cfg)
        results = verify_with_evidence(state.claims, papers, embedder, client=client, notes=notes)
    except Exception as exc:  # embeddings down: lexical-only evidence, said in the report
        from sovereign.adapters.nim import NimError

        if not isinstance(exc, NimError):
            raise
        notes.append(f"Verifier: {exc}; evidence retrieval fell back to lexical matching only.")
        results = verify_with_evidence(state.claims, papers, None, client=None)
    label = "evidence (offline scorer)" if client is None else f"evidence (LLM judge: {model_label(client)})"
    out = {"verifications": results, "baseline": baseline, "agents": {"verifier": label}}
    if notes:
        out["uncertainties"] = notes
    return out
