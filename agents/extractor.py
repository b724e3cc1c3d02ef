"""Extractor: atomic claims from the primary paper (and optionally the next best papers).

Offline algorithm ("offline extractive claims"): the paper's summary is split into sentences and
clauses (at semicolons); each clause of at least six words is a candidate claim; the candidates
most related to the question are kept, in the order the paper states them.
"""

from __future__ import annotations

from langgraph.runtime import Runtime

from sovereign.graph.configuration import Configuration
from sovereign.graph.state import Claim, Paper, ResearchState
from sovereign.text import content_tokens, normalize, split_sentences

OFFLINE_EXTRACTOR = "offline extractive claims"
MIN_CLAIM_WORDS = 6


def candidate_claims(paper: Paper) -> list[str]:
    out: list[str] = []
    for sentence in split_sentences(paper.abstract):
        for clause in sentence.split("; "):
            clause = clause.strip()
            if len(clause.split()) < MIN_CLAIM_WORDS:
                continue
            if not clause.endswith((".", "!", "?")):
                clause += "."
            out.append(clause[0].upper() + clause[1:])
    return out


def claim_relevance(claim: str, question_terms: set[str]) -> float:
    terms = set(content_tokens(claim))
    if not terms:
        return 0.0
    return len(terms & question_terms) / (len(question_terms) ** 0.5 + 1e-9)


def offline_claims(paper: Paper, question: str, k: int) -> list[str]:
    """Up to k extractive claims from ``paper``, most relevant to ``question``, in paper order."""
    candidates = candidate_claims(paper)
    q_terms = set(content_tokens(question))
    scored = [
        (claim_relevance(c, q_terms) + 0.05 / (i + 1), i) for i, c in enumerate(candidates)
    ]  # small position prior: summaries state the main contribution first
    keep = sorted(sorted(scored, reverse=True)[:k], key=lambda t: t[1])
    return [candidates[i] for _, i in keep]


def extract(state: ResearchState, runtime: Runtime[Configuration]) -> dict:
    cfg = Configuration.from_runtime(runtime)
    dropped = {normalize(t) for t in state.dropped_claims}
    claims: list[Claim] = []
    for ranked in state.papers[: cfg.extract_papers]:
        for text in offline_claims(ranked.paper, state.question, cfg.claims_per_paper):
            if normalize(text) in dropped:
                continue
            claims.append(Claim(id=f"C{len(claims) + 1}", text=text, source_id=ranked.paper.id, extractor=OFFLINE_EXTRACTOR))
    out: dict = {"claims": claims}
    if state.papers and not claims:
        out["uncertainties"] = [f"No claim could be extracted from {state.papers[0].paper.id} (summary too short)."]
    return out
