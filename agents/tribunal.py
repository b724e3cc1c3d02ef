"""Tribunal v2: three reviewers with distinct rubrics, run as parallel branches.

Offline, each reviewer is a deterministic rubric ("offline rubric review"): it computes its score
from measured signals of the run (:func:`measure_signals`) and writes its rationale from those
numbers. The rubrics (weights in brackets):

* SKEPTIC: is the work about the question and are its claims backed by others?
  primary paper relevance [0.35], verified ratio [0.25], independent evidence ratio [0.20],
  question-term coverage of the primary paper [0.20]; the sum is scaled by (0.25 + 0.75 x the share
  of the question's named entities the primary paper mentions), and topic drift (no named entity
  mentioned, or under a quarter of the question's terms) caps the score at 3.
* VALIDATOR: is verification and citation sound?
  verified ratio [0.25], independently verified ratio [0.20], mean confidence vs threshold [0.15],
  citation correctness [0.15], source diversity [0.15], recency [0.10].
* SYNTHESIZER: does the synthesis answer the question?
  question coverage by the claims [0.45], claim count vs target [0.30], mean relevance of the
  top papers [0.25].
"""

from __future__ import annotations

import datetime as _dt

from langgraph.runtime import Runtime
from pydantic import BaseModel, Field

from sovereign.graph.configuration import Configuration
from sovereign.graph.state import Action, Finding, ResearchState, Review, Role
from sovereign.text import content_tokens, entities, key_phrases, mentions, shorten

OFFLINE_REVIEWER = "offline rubric review"
RELEVANCE_FULL = 0.35
"""Hybrid question-paper relevance treated as fully on topic (measured on the bundled corpus)."""
RECENT_YEARS = 6


def _clip(x: float) -> float:
    return max(0.0, min(1.0, x))


def measure_signals(state: ResearchState, cfg: Configuration, today: _dt.date | None = None) -> dict[str, float]:
    """Measured facts about the run that the reviewers score (all in 0..1 except counts)."""
    today = today or _dt.date.today()
    papers = state.papers
    primary = next((r for r in papers if r.paper.id == state.primary_id), None)
    primary_text = primary.paper.text if primary else ""
    q_terms = set(content_tokens(state.question))
    q_ents = entities(state.question)
    claims = state.claims
    ver = {v.claim_id: v for v in state.verifications}
    verified = [c for c in claims if ver.get(c.id) and ver[c.id].verified]
    independent = [c for c in verified if ver[c.id].independent]
    claim_terms = set(content_tokens(" ".join(c.text for c in claims)))
    top = papers[:10]
    years = [r.paper.year for r in top if r.paper.year]
    first_authors = {(r.paper.authors or [r.paper.id])[0] for r in top}
    paper_ids = {r.paper.id for r in papers}
    entity_cov = (sum(mentions(primary_text, e) for e in q_ents) / len(q_ents)) if q_ents else 1.0
    term_cov = len(q_terms & set(content_tokens(primary_text))) / len(q_terms) if q_terms else 0.0
    return {
        "papers": float(len(papers)),
        "claims": float(len(claims)),
        "primary_relevance": primary.relevance if primary else 0.0,
        "top5_relevance": (sum(r.relevance for r in papers[:5]) / min(5, len(papers))) if papers else 0.0,
        "entity_coverage": entity_cov,
        "term_coverage": term_cov,
        "topic_drift": 1.0 if (primary is None or entity_cov == 0.0 or term_cov < 0.25) else 0.0,
        "verified_ratio": len(verified) / len(claims) if claims else 0.0,
        "independent_ratio": len(independent) / len(claims) if claims else 0.0,
        "mean_confidence": (sum(v.confidence for v in state.verifications) / len(state.verifications))
        if state.verifications
        else 0.0,
        "citation_ok": (sum(c.source_id in paper_ids for c in claims) / len(claims)) if claims else 0.0,
        "source_diversity": len(first_authors) / len(top) if top else 0.0,
        "recency": (sum(today.year - y <= RECENT_YEARS for y in years) / len(years)) if years else 0.0,
        "claim_coverage": len(q_terms & claim_terms) / len(q_terms) if q_terms else 0.0,
    }


def is_weak(v, cfg: Configuration) -> bool:
    """A claim the SKEPTIC asks to drop: contradicted with an explicit cue (a negation, an opposite or
    a conflicting number in the evidence) or, for the baseline, under half the threshold. A
    contradiction without such a cue is reported for the reader to judge, not dropped."""
    if v.method == "tfidf":
        return v.confidence < cfg.verify_threshold / 2
    return v.label == "CONTRADICTED" and v.cue is not None


def _score(parts: list[tuple[float, float]]) -> float:
    return round(10.0 * sum(w * _clip(v) for w, v in parts), 2)


def skeptic_review(state: ResearchState, cfg: Configuration, s: dict[str, float], rnd: int) -> Review:
    rel = s["primary_relevance"] / RELEVANCE_FULL
    score = _score([(0.35, rel), (0.25, s["verified_ratio"]), (0.20, s["independent_ratio"]), (0.20, s["term_coverage"])])
    score = round(score * (0.25 + 0.75 * s["entity_coverage"]), 2)
    findings: list[Finding] = []
    actions: list[Action] = []
    primary = state.primary_id or "none"
    primary_text = next((r.paper.text for r in state.papers if r.paper.id == state.primary_id), "")
    missing = [e for e in entities(state.question) if not mentions(primary_text, e)]
    if s["topic_drift"]:
        score = min(score, 3.0)
        findings.append(
            Finding(
                text=f"Topic drift: the primary paper {primary} covers {s['term_coverage']:.0%} of the question's terms"
                + (f" and does not mention {', '.join(missing)}" if missing else ""),
                paper_ids=[primary],
            )
        )
        actions.append(Action(kind="search_more", queries=key_phrases(state.question)[:4], reason="topic drift"))
    elif missing:
        findings.append(
            Finding(text=f"The primary paper {primary} does not mention {', '.join(missing)}, which the question names", paper_ids=[primary])
        )
        anchors = [e for e in entities(state.question) if e not in missing]
        actions.append(
            Action(kind="search_more", queries=[" ".join([m, *anchors[:1]]) for m in missing], reason="question entities not covered")
        )
    ver = {v.claim_id: v for v in state.verifications}
    weak = [c.id for c in state.claims if ver.get(c.id) and is_weak(ver[c.id], cfg)]
    unsupported = [c.id for c in state.claims if ver.get(c.id) and not ver[c.id].verified]
    self_only = [c.id for c in state.claims if ver.get(c.id) and ver[c.id].verified and not ver[c.id].independent]
    if unsupported:
        findings.append(Finding(text=f"{len(unsupported)} claim(s) lack support above the threshold", claim_ids=unsupported))
    if self_only:
        findings.append(
            Finding(text=f"{len(self_only)} verified claim(s) are backed only by their own source paper", claim_ids=self_only)
        )
    if weak:
        actions.append(Action(kind="drop_claim", claim_ids=weak, reason="contradicted or far below the threshold"))
    if s["independent_ratio"] < 0.5 and not s["topic_drift"]:
        actions.append(Action(kind="search_more", reason="find independent evidence"))
    rationale = (
        f"Primary paper relevance {s['primary_relevance']:.2f} (full marks at {RELEVANCE_FULL}), "
        f"question-term coverage {s['term_coverage']:.0%}, named entities mentioned {s['entity_coverage']:.0%}, "
        f"verified {s['verified_ratio']:.0%}, "
        f"independently evidenced {s['independent_ratio']:.0%}"
        + ("; topic drift caps the score at 3." if s["topic_drift"] else ".")
    )
    return Review(role="SKEPTIC", round=rnd, score=score, rationale=rationale, findings=findings, actions=actions, signals=s)


def validator_review(state: ResearchState, cfg: Configuration, s: dict[str, float], rnd: int) -> Review:
    if cfg.verify_method == "tfidf":  # a cosine: twice the threshold counts as full marks
        conf = s["mean_confidence"] / (2 * cfg.verify_threshold) if cfg.verify_threshold else s["mean_confidence"]
    else:  # a calibrated probability that the label is right
        conf = s["mean_confidence"]
    score = _score(
        [
            (0.25, s["verified_ratio"]),
            (0.20, s["independent_ratio"]),
            (0.15, conf),
            (0.15, s["citation_ok"]),
            (0.15, s["source_diversity"]),
            (0.10, s["recency"]),
        ]
    )
    findings, actions = [], []
    ver = {v.claim_id: v for v in state.verifications}
    unverified = [c.id for c in state.claims if not (ver.get(c.id) and ver[c.id].verified)]
    if unverified:
        findings.append(Finding(text=f"Unverified claims: {', '.join(unverified)}", claim_ids=unverified))
        actions.append(Action(kind="reverify", claim_ids=unverified, reason="not verified"))
    if s["verified_ratio"] < 0.5:
        actions.append(Action(kind="search_more", reason="verified ratio below 50%"))
    if s["citation_ok"] < 1.0:
        findings.append(Finding(text="Some claims cite a paper that is not among the retrieved papers"))
    rationale = (
        f"Verified {s['verified_ratio']:.0%} of {int(s['claims'])} claims ({s['independent_ratio']:.0%} by an "
        f"independent paper), mean confidence {s['mean_confidence']:.2f} "
        + (f"(cosine; threshold {cfg.verify_threshold})" if cfg.verify_method == "tfidf" else "(calibrated probability of the label)")
        + f", citations resolvable {s['citation_ok']:.0%}, "
        f"distinct first authors {s['source_diversity']:.0%} of top papers, recent (<= {RECENT_YEARS} y) {s['recency']:.0%}."
    )
    return Review(role="VALIDATOR", round=rnd, score=score, rationale=rationale, findings=findings, actions=actions, signals=s)


def synthesizer_review(state: ResearchState, cfg: Configuration, s: dict[str, float], rnd: int) -> Review:
    target = cfg.claims_per_paper * cfg.extract_papers
    score = _score(
        [(0.45, s["claim_coverage"]), (0.30, s["claims"] / target if target else 0), (0.25, s["top5_relevance"] / RELEVANCE_FULL)]
    )
    claim_terms = set(content_tokens(" ".join(c.text for c in state.claims)))
    gaps = [p for p in key_phrases(state.question) if not set(content_tokens(p)) <= claim_terms]
    findings, actions = [], []
    if gaps:
        findings.append(Finding(text=f"The claims do not address: {'; '.join(shorten(g, 60) for g in gaps[:5])}"))
        actions.append(Action(kind="search_more", queries=gaps[:3], reason="question aspects without claims"))
    if s["claim_coverage"] < 0.5:
        actions.append(Action(kind="rewrite_synthesis", reason="claims cover under half of the question"))
    rationale = (
        f"Claims cover {s['claim_coverage']:.0%} of the question's terms with {int(s['claims'])} claim(s) "
        f"(target {target}); top papers' mean relevance {s['top5_relevance']:.2f}."
    )
    return Review(role="SYNTHESIZER", round=rnd, score=score, rationale=rationale, findings=findings, actions=actions, signals=s)


RUBRICS = {"SKEPTIC": skeptic_review, "VALIDATOR": validator_review, "SYNTHESIZER": synthesizer_review}


class ReviewReply(BaseModel):
    score: float = Field(ge=0, le=10)
    rationale: str = Field(max_length=2000)
    findings: list[Finding] = Field(default_factory=list, max_length=20)
    actions: list[Action] = Field(default_factory=list, max_length=10)


def claims_block(state: ResearchState, nonce: str) -> str:
    from sovereign.prompts.fencing import fence

    ver = {v.claim_id: v for v in state.verifications}
    items = []
    for c in state.claims:
        v = ver.get(c.id)
        verdict = f"{v.label}, confidence {v.confidence:.2f}, evidence {v.evidence_id}" if v else "not verified"
        items.append((c.id, f"{c.text}\n[source {c.source_id}; {verdict}]"))
    return fence(items, nonce) if items else "(no claims)"


def papers_block(state: ResearchState, nonce: str, k: int = 8) -> str:
    from sovereign.prompts.fencing import fence

    items = [(r.paper.id, f"{r.paper.title} ({r.paper.year}); relevance {r.relevance:.2f}") for r in state.papers[:k]]
    return fence(items, nonce) if items else "(no papers)"


def clean_review(reply: ReviewReply, state: ResearchState) -> ReviewReply:
    """Keep only findings/actions that point at claims and papers of this run (pure)."""
    claim_ids = {c.id for c in state.claims}
    paper_ids = {r.paper.id for r in state.papers}
    findings = [
        f.model_copy(update={"claim_ids": [i for i in f.claim_ids if i in claim_ids], "paper_ids": [i for i in f.paper_ids if i in paper_ids]})
        for f in reply.findings
    ]
    actions = []
    for a in reply.actions:
        a = a.model_copy(update={"claim_ids": [i for i in a.claim_ids if i in claim_ids], "queries": [q[:120] for q in a.queries[:4]]})
        if a.kind in ("drop_claim", "reverify") and not a.claim_ids:
            continue
        actions.append(a)
    return reply.model_copy(update={"findings": findings, "actions": actions})


def review_leak(reply: ReviewReply, system: str) -> str | None:
    """Why a model's review may not enter the report (it echoes instruction-like text from a paper,
    a URL or the system prompt), or ``None``. Its text is shown in the report as the reviewer's own
    words, so it is screened like every model-written text (see prompts/fencing.py)."""
    from sovereign.prompts.fencing import leak

    texts = [reply.rationale, *(f.text for f in reply.findings), *(a.reason for a in reply.actions)]
    texts += [q for a in reply.actions for q in a.queries]
    return next((why for why in (leak(t, system) for t in texts) if why), None)


def nim_review(client, role: Role, state: ResearchState, signals: dict[str, float]) -> tuple[Review | None, str | None]:
    from sovereign.llm import model_label, structured
    from sovereign.prompts import reviewers as prompt
    from sovereign.prompts.fencing import new_nonce

    nonce = new_nonce()
    system = prompt.system(role, nonce)
    user = prompt.user(state.question, signals, claims_block(state, nonce), papers_block(state, nonce))
    reply, note = structured(client, system, user, ReviewReply, f"{role} reviewer")
    if reply is None:
        return None, note
    problem = review_leak(reply, system)
    if problem:
        return None, f"{role} reviewer: the model's review was not used because {problem}; used the offline rubric instead."
    reply = clean_review(reply, state)
    return (
        Review(
            role=role, round=state.revision_round, score=round(reply.score, 2), rationale=reply.rationale,
            findings=reply.findings, actions=reply.actions, signals=signals, reviewer=model_label(client),
        ),
        None,
    )


def _review_node(role: Role):
    def node(state: ResearchState, runtime: Runtime[Configuration]) -> dict:
        from sovereign.adapters.models import chat_client

        cfg = Configuration.from_runtime(runtime)
        signals = measure_signals(state, cfg)
        client = chat_client(cfg)
        if client is not None:
            review, note = nim_review(client, role, state, signals)
            if review is not None:
                return {"reviews": [review], "agents": {"reviewers": review.reviewer}}
            fallback = RUBRICS[role](state, cfg, signals, state.revision_round)
            return {"reviews": [fallback], "agents": {"reviewers": OFFLINE_REVIEWER}, "uncertainties": [note]}
        return {"reviews": [RUBRICS[role](state, cfg, signals, state.revision_round)], "agents": {"reviewers": OFFLINE_REVIEWER}}

    node.__name__ = f"review_{role.lower()}"
    node.__doc__ = f"{role} reviewer (parallel branch of the tribunal)."
    return node


review_skeptic = _review_node("SKEPTIC")
review_validator = _review_node("VALIDATOR")
review_synthesizer = _review_node("SYNTHESIZER")
