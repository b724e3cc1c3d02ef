"""Extractor: atomic claims from the primary paper (and optionally the next best papers).

Offline algorithm ("offline extractive claims"): the paper's summary is split into sentences and
clauses (at semicolons); each clause of at least six words is a candidate claim; the candidates
most related to the question are kept, in the order the paper states them.
"""

from __future__ import annotations

from langgraph.runtime import Runtime
from pydantic import BaseModel, Field

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


class ExtractedClaim(BaseModel):
    text: str = Field(description="One atomic, self-contained claim stated by the paper.")


class ExtractorReply(BaseModel):
    claims: list[ExtractedClaim] = Field(max_length=40)


def clean_claims(texts: list[str], k: int) -> list[str]:
    """Model claims: one sentence each, 6-60 words, de-duplicated, at most k (pure)."""
    out, seen = [], set()
    for t in texts:
        t = " ".join(str(t).split())
        if not (MIN_CLAIM_WORDS <= len(t.split()) <= 60) or normalize(t) in seen:
            continue
        seen.add(normalize(t))
        out.append(t if t.endswith((".", "!", "?")) else t + ".")
    return out[:k]


def nim_claims(client, paper: Paper, question: str, k: int) -> tuple[list[str] | None, str | None]:
    from sovereign.llm import structured
    from sovereign.prompts import extractor as prompt
    from sovereign.prompts.fencing import new_nonce

    nonce = new_nonce()
    reply, note = structured(
        client, prompt.system(nonce), prompt.user(question, paper.id, paper.title, paper.abstract, k, nonce),
        ExtractorReply, f"Claim extractor ({paper.id})",
    )
    if reply is None:
        return None, note
    cleaned = clean_claims([c.text for c in reply.claims], k)
    return (cleaned, None) if cleaned else (None, f"Claim extractor ({paper.id}): the model returned no usable claim; used the offline algorithm instead.")


def warm_evidence_index(state: ResearchState, cfg: Configuration) -> None:
    """Start building the verifier's evidence index over the ranked papers (it needs the papers, not
    the claims); the verifier picks it up (:func:`sovereign.evidence.evidence_index`)."""
    from sovereign.adapters.models import embedder_for
    from sovereign.evidence import prepare_evidence_index

    try:
        embedder = embedder_for(cfg)
    except Exception:  # the verifier meets and reports the problem itself
        return
    prepare_evidence_index([r.paper for r in state.papers], embedder)


def extract(state: ResearchState, runtime: Runtime[Configuration]) -> dict:
    from sovereign.adapters.models import chat_client
    from sovereign.llm import model_label

    cfg = Configuration.from_runtime(runtime)
    client = chat_client(cfg)
    if cfg.verify_method == "evidence" and client is not None:
        warm_evidence_index(state, cfg)  # CPU work in the background while the model call is out
    dropped = {normalize(t) for t in state.dropped_claims}
    targets = [r.paper for r in state.papers[: cfg.extract_papers]]
    notes: list[str] = []
    per_paper: list[tuple[Paper, list[str], str]] = []
    if client is not None and targets:
        from sovereign.concurrency import map_in_threads

        replies = map_in_threads(lambda p: nim_claims(client, p, state.question, cfg.claims_per_paper), targets, cfg.max_concurrency)
        for paper, (texts, note) in zip(targets, replies):
            if texts is None:
                notes.append(note)
                per_paper.append((paper, offline_claims(paper, state.question, cfg.claims_per_paper), OFFLINE_EXTRACTOR))
            else:
                per_paper.append((paper, texts, model_label(client)))
    else:
        per_paper = [(p, offline_claims(p, state.question, cfg.claims_per_paper), OFFLINE_EXTRACTOR) for p in targets]
    claims: list[Claim] = []
    for paper, texts, extractor in per_paper:
        for text in texts:
            if normalize(text) in dropped:
                continue
            claims.append(Claim(id=f"C{len(claims) + 1}", text=text, source_id=paper.id, extractor=extractor))
    out: dict = {"claims": claims, "agents": {"extractor": " + ".join(dict.fromkeys(e for _, _, e in per_paper)) or OFFLINE_EXTRACTOR}}
    if state.papers and not claims:
        notes.append(f"No claim could be extracted from {state.papers[0].paper.id} (summary too short).")
    if notes:
        out["uncertainties"] = notes
    return out
