"""Reporter: renders the final state into the report contract (:class:`Report`) and report.md.

Everything is read from state; nothing is recomputed. With ``output_dir`` configured, the node
also writes report.md and report.json there (atomically: both or neither).
"""

from __future__ import annotations

import datetime as _dt

from langgraph.runtime import Runtime
from pydantic import BaseModel, Field

from sovereign.agents.extractor import OFFLINE_EXTRACTOR
from sovereign.agents.planner import OFFLINE_PLANNER
from sovereign.agents.synthesizer import VETO_BELOW, WEIGHTS
from sovereign.agents.tribunal import OFFLINE_REVIEWER
from sovereign.graph.configuration import Configuration
from sovereign.graph.state import (
    RankedPaper,
    Report,
    ReportClaim,
    ReportPaper,
    ReportReview,
    ReportTribunal,
    ResearchState,
)
from sovereign.text import shorten

MAX_REFERENCES = 12
ESCALATION_BANNER = "SOVEREIGN Research Kernel — Autonomous draft — Owner review required before publication"
REJECTION_BANNER = "SOVEREIGN Research Kernel — Rejected draft — not for publication"
DISCLAIMER = "This report is a machine-generated literature synthesis and does not constitute original research."


def to_report_paper(r: RankedPaper) -> ReportPaper:
    p = r.paper
    return ReportPaper(
        id=p.id, title=p.title, authors=p.authors, year=p.year, url=p.url, doi=p.doi, source=p.source,
        relevance=round(r.relevance, 4),
    )


def reference_line(p: ReportPaper) -> str:
    authors = ", ".join(p.authors[:3]) + (" et al." if len(p.authors) > 3 else "")
    links = []
    if p.url:
        links.append(p.url)
    if p.doi:
        links.append(f"https://doi.org/{p.doi}")
    year = f" ({p.year})" if p.year else ""
    return f"{authors or 'Unknown authors'}{year}. *{p.title}*. " + " · ".join(links or [p.id])


def build_uncertainties(state: ResearchState, claims: list[ReportClaim], provider: str) -> list[str]:
    out: list[str] = list(dict.fromkeys(state.uncertainties))
    out += [f"Source problem: {e}" for e in dict.fromkeys(state.source_errors)]
    signals = state.rounds[-1].reviews[0].signals if state.rounds and state.rounds[-1].reviews else {}
    if signals.get("topic_drift") and not state.primary_id:
        out.append("Topic drift: no retrieved paper addresses the question; the corpus or sources may not cover it.")
    elif signals.get("topic_drift"):
        out.append(
            f"Topic drift: the primary paper covers {signals.get('term_coverage', 0):.0%} of the question's terms; "
            "the retrieved papers may not address the question."
        )
    contradicted = [c.id for c in claims if c.label == "CONTRADICTED"]
    if contradicted:
        out.append(
            f"{len(contradicted)} claim(s) ({', '.join(contradicted)}) are contradicted by another paper: "
            "read the quoted evidence before relying on them."
        )
    unverified = [c.id for c in claims if not c.verified and c.label != "CONTRADICTED"]
    if unverified:
        out.append(
            f"{len(unverified)} of {len(claims)} claims found no independent support ({', '.join(unverified)}); "
            "they rest on their source paper alone."
        )
    self_only = [c.id for c in claims if c.verified and c.evidence_id == c.source_id]
    if self_only:
        out.append(
            f"{len(self_only)} verified claim(s) ({', '.join(self_only)}) match best their own source paper: "
            "the baseline verifier counts self-reported support, which is not independent confirmation."
        )
    if any(r.paper.summary_source for r in state.papers[:MAX_REFERENCES]):
        out.append(
            "Paper texts from the bundled corpus are summaries written for this corpus, not the authors' abstracts; "
            "claims are extracted from and checked against those summaries."
        )
    if provider == "offline":
        out.append(
            "Offline default: planner, extractor and reviewers are deterministic algorithms, not language models; "
            "scores measure lexical and embedding similarity, not understanding."
        )
    if state.dropped_claims:
        out.append(f"{len(state.dropped_claims)} claim(s) were dropped by the revision round as contradicted or weakly supported.")
    if 0 < len(state.papers) < 3:
        out.append(f"Only {len(state.papers)} paper(s) were retrieved.")
    return list(dict.fromkeys(out))


def offline_abstract(state: ResearchState, primary: ReportPaper | None, claims: list[ReportClaim], method: str) -> str:
    if primary is None:
        return f"No paper was found for the question “{state.question}”, so no synthesis could be drawn."
    verified = [c for c in claims if c.verified]
    independent = [c for c in verified if c.evidence_id != c.source_id]
    contradicted = [c for c in claims if c.label == "CONTRADICTED"]
    first = claims[0].text if claims else "nothing the extractor could isolate as a claim"
    if method == "tfidf":
        checked = (
            f"{len(verified)} reached the TF-IDF verification threshold, {len(independent)} of them on a paper other "
            "than their source"
        )
    else:
        checked = (
            f"{len(verified)} are supported by evidence from other papers and {len(contradicted)} are contradicted"
        )
    return (
        f"This draft addresses the question “{state.question}” using {len(state.papers)} papers retrieved with "
        f"{len(state.queries)} queries. The most relevant paper is “{primary.title}” ({primary.id}), which states: "
        f"{first} Of {len(claims)} claims extracted from it, {checked}. The tribunal scored the draft "
        f"{state.score if state.score is not None else 0:.1f}/10 ({state.verdict}, revision round {state.revision_round}); "
        f"policy: {state.policy}. (Abstract assembled by the offline template from the run's data.)"
    )


def offline_answer(primary: ReportPaper | None, claims: list[ReportClaim]) -> str:
    if primary is None:
        return "The kernel found no paper to answer from."
    supported = [c.id for c in claims if c.verified]
    contradicted = [c.id for c in claims if c.label == "CONTRADICTED"]
    return (
        f"According to {primary.title} ({primary.id}), see the claims below; "
        + (f"{', '.join(supported)} {'is' if len(supported) == 1 else 'are'} backed by other papers" if supported else "none of its claims is backed by another retrieved paper")
        + (f", and {', '.join(contradicted)} {'is' if len(contradicted) == 1 else 'are'} contradicted" if contradicted else "")
        + ". Treat unsupported claims as the paper's own report. (Offline template.)"
    )


class WriterReply(BaseModel):
    abstract: str = Field(min_length=20, max_length=3000)
    answer: str = Field(min_length=5, max_length=1500)


def build_report(
    state: ResearchState,
    cfg: Configuration,
    today: _dt.date | None = None,
    written: WriterReply | None = None,
    writer_label: str = "offline template",
) -> Report:
    provider = cfg.resolved_provider()
    papers = [to_report_paper(r) for r in state.papers]
    by_id = {p.id: p for p in papers}
    primary = by_id.get(state.primary_id or "")
    ver = {v.claim_id: v for v in state.verifications}
    base = {v.claim_id: v for v in state.baseline}
    claims = []
    for c in state.claims:
        v, b = ver.get(c.id), base.get(c.id)
        claims.append(
            ReportClaim(
                id=c.id, text=c.text, source_id=c.source_id, verified=bool(v and v.verified),
                confidence=round(v.confidence, 4) if v else 0.0, label=v.label if v else "UNSUPPORTED",
                evidence_id=v.evidence_id if v else None, evidence_quote=v.evidence_quote if v else None,
                independent=bool(v and v.independent and v.evidence_id != c.source_id),
                self_reported=v.self_quote if v else None,
                baseline_verified=b.verified if b else None,
                baseline_confidence=b.confidence if b else None,
                method=v.method if v else cfg.verify_method,
            )
        )
    cited = [primary.id] if primary else []
    cited += [c.source_id for c in claims] + [c.evidence_id for c in claims if c.evidence_id]
    cited += [p.id for p in papers[:MAX_REFERENCES]]
    ref_papers = [by_id[i] for i in dict.fromkeys(cited) if i in by_id]
    final_reviews = state.rounds[-1].reviews if state.rounds else []
    agents = {
        "planner": OFFLINE_PLANNER,
        "extractor": OFFLINE_EXTRACTOR,
        "verifier": f"{cfg.verify_method} (threshold {cfg.verify_threshold})",
        "reviewers": ", ".join(dict.fromkeys(r.reviewer for r in final_reviews)) or OFFLINE_REVIEWER,
        **state.agents,
        "writer": writer_label,
    }
    method = cfg.verify_method
    report = Report(
        title=f"Research report: {shorten(state.question, 90)}",
        date=(today or _dt.date.today()).isoformat(),
        question=state.question,
        provider=provider,
        agents=agents,
        queries=state.queries,
        sources=cfg.sources,
        embedding_model=str(state.index_info.get("embedder", "none")),
        verification=verification_summary(cfg, state),
        abstract=written.abstract if written else offline_abstract(state, primary, claims, method),
        answer=written.answer if written else offline_answer(primary, claims),
        introduction=(
            f"Analysis of: {primary.title if primary else 'no paper found'}. Research goal: {state.question}"
        ),
        papers=papers,
        primary_paper=primary,
        claims=claims,
        tribunal=ReportTribunal(
            reviews=[ReportReview(role=r.role, round=r.round, score=r.score, rationale=r.rationale, reviewer=r.reviewer) for r in final_reviews],
            score=state.score or 0.0,
            verdict=state.verdict or "FAIL",
            revision_round=state.revision_round,
            rounds=state.rounds,
        ),
        policy=state.policy or "ESCALATE_TO_OWNER",
        policy_reasons=state.policy_reasons,
        owner=state.owner,
        uncertainties=build_uncertainties(state, claims, provider),
        references=[reference_line(p) for p in ref_papers],
        reference_ids=[p.id for p in ref_papers],
        metrics={
            "papers": len(papers),
            "claims": len(claims),
            "verified": sum(c.verified for c in claims),
            "queries": len(state.queries),
            "revision_rounds": state.revision_round,
            "timings_s": dict(state.timings),
        },
    )
    report.markdown = render_markdown(report, ref_papers)
    return report


def verification_summary(cfg: Configuration, state: ResearchState) -> dict[str, str | float]:
    out: dict[str, str | float] = {"method": cfg.verify_method, "baseline": "tfidf", "threshold": cfg.verify_threshold}
    if cfg.verify_method == "evidence":
        from sovereign.evidence import load_calibration

        cal = load_calibration()
        out["calibration"] = cal.fitted_on
    out["baseline_verified"] = float(sum(v.verified for v in state.baseline))
    return out


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(r: Report, ref_papers: list[ReportPaper]) -> str:
    ref_no = {p.id: i + 1 for i, p in enumerate(ref_papers)}

    def cite(pid: str | None) -> str:
        return f"[{ref_no[pid]}]" if pid in ref_no else (pid or "—")

    lines = [f"# {r.title}", "", f"*Date: {r.date} · Provider: {r.provider} · Sovereign research kernel*", ""]
    independent = sum(c.verified and c.independent for c in r.claims)
    if r.policy == "ESCALATE_TO_OWNER":
        lines += [f"> **{ESCALATION_BANNER}**", ">", "> Reasons: " + "; ".join(r.policy_reasons), ""]
    elif r.policy == "REJECT":
        lines += [f"> **{REJECTION_BANNER}**", ">", "> Reasons: " + "; ".join(r.policy_reasons), ""]
    else:
        lines += [
            f"This report synthesises findings from {len(r.papers)} papers addressing the following research question: "
            f"“{r.question}”. {len(r.claims)} claims were extracted; {independent} were independently verified against "
            f"other papers. The tribunal's quality score is {r.tribunal.score:.1f}/10. {DISCLAIMER}",
            "",
        ]
    if r.owner is not None:
        lines += [f"> Owner decision: **{r.owner.decision}**" + (f" — {r.owner.note}" if r.owner.note else ""), ""]
    lines += ["## Abstract", "", r.abstract, ""]
    if r.answer:
        lines += [f"**Answer.** {r.answer}", ""]
    lines += ["## 1 Introduction", "", r.introduction, ""]
    if r.primary_paper:
        lines += [f"The primary paper is {cite(r.primary_paper.id)} ({r.primary_paper.id}), ranked first of {len(r.papers)} by relevance to the question.", ""]
    lines += ["## 2 Methodology", ""]
    lines += [f"- Queries ({len(r.queries)}): " + "; ".join(f"`{q}`" for q in r.queries)]
    lines += [f"- Sources: {', '.join(r.sources)}"]
    lines += [f"- Embedding model: {r.embedding_model}; index: FAISS inner product on normalised vectors"]
    if r.verification["method"] == "evidence":
        lines += [
            "- Verification: evidence — each claim checked against sentence passages of the *other* retrieved papers "
            "(hybrid FAISS + TF-IDF retrieval; lexical, semantic, coverage, negation and number checks), labelled "
            "SUPPORTED / CONTRADICTED / UNSUPPORTED; confidence = calibrated probability that the label is right "
            f"(fitted on {r.verification.get('calibration')}). Baseline for comparison: the seeds' TF-IDF cosine, "
            f"threshold {r.verification['threshold']}."
        ]
    else:
        lines += [f"- Verification: tfidf (the seeds' baseline: TF-IDF word 1-2-gram cosine, max over the retrieved papers), threshold {r.verification['threshold']}"]
    lines += [f"- Agents: " + "; ".join(f"{k}: {v}" for k, v in r.agents.items())]
    weights = ", ".join(f"{k} {v:.2f}" for k, v in WEIGHTS.items())
    lines += [
        f"- Tribunal: SKEPTIC, VALIDATOR and SYNTHESIZER review in parallel; score = weighted mean ({weights}), "
        f"SKEPTIC veto below {VETO_BELOW:g}; below the revision threshold the work is revised and reviewed again.",
        "",
    ]
    verified = sum(c.verified for c in r.claims)
    lines += ["## 3 Results", ""]
    lines += [f"- Papers retrieved: {len(r.papers)}"]
    lines += [f"- Claims extracted: {len(r.claims)}; verified: {verified}"]
    if r.verification["method"] != "tfidf":
        contradicted = sum(c.label == "CONTRADICTED" for c in r.claims)
        lines += [
            f"- Evidence labels: {verified} SUPPORTED, {contradicted} CONTRADICTED, {len(r.claims) - verified - contradicted} UNSUPPORTED; "
            f"the TF-IDF baseline would mark {int(r.verification.get('baseline_verified', 0))} of {len(r.claims)} as verified."
        ]
    lines += [
        f"- Tribunal: {r.tribunal.score:.1f}/10 → {r.tribunal.verdict} (revision_round={r.tribunal.revision_round}). "
        f"Policy: {r.policy}."
    ]
    if r.policy_reasons:
        lines += [f"- Policy reasons: " + "; ".join(r.policy_reasons)]
    lines += ["", "| Round | Role | Score | Rationale |", "| --- | --- | --- | --- |"]
    for rnd in r.tribunal.rounds:
        for rev in rnd.reviews:
            lines += [f"| {rnd.round} | {rev.role} | {rev.score:.1f} | {_cell(rev.rationale)} |"]
    for rnd in r.tribunal.rounds:
        if rnd.changes:
            lines += ["", f"Revision after round {rnd.round} (score {rnd.score:.1f}): " + "; ".join(rnd.changes) + "."]
    lines += ["", "Top papers:", ""]
    for p in r.papers[:5]:
        lines += [f"- {cite(p.id)} {p.title} ({p.id}), relevance {p.relevance:.2f}"]
    lines += ["", "## 4 Uncertainties", ""]
    lines += [f"- {u}" for u in r.uncertainties] or ["- None recorded."]
    lines += ["", "## 5 Extracted Claims", ""]
    lines += [
        "| Claim | Verified | Confidence | Label | Evidence | Evidence paper | Baseline (TF-IDF) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for c in r.claims:
        mark = "✓" if c.verified else "×"
        quote = f"“{_cell(shorten(c.evidence_quote, 90))}”" if c.evidence_quote else "—"
        ev = f"{cite(c.evidence_id)} {c.evidence_id}" if c.evidence_id else "—"
        if c.evidence_id and c.evidence_id == c.source_id:
            ev += " (self-reported)"
        base = "—" if c.baseline_verified is None else f"{'✓' if c.baseline_verified else '×'} {c.baseline_confidence:.2f}"
        lines += [f"| {c.id}: {_cell(c.text)} {cite(c.source_id)} | {mark} | {c.confidence:.2f} | {c.label} | {quote} | {ev} | {base} |"]
    lines += ["", "## References", ""]
    lines += [f"[{i + 1}] {line}" for i, line in enumerate(r.references)]
    return "\n".join(lines) + "\n"


def nim_written(client, state: ResearchState) -> tuple[WriterReply | None, str | None]:
    from sovereign.agents.tribunal import claims_block
    from sovereign.llm import structured
    from sovereign.prompts import writer as prompt
    from sovereign.prompts.fencing import new_nonce

    from sovereign.prompts.fencing import leak

    nonce = new_nonce()
    system = prompt.system(nonce)
    primary = next((f"{r.paper.id}" for r in state.papers if r.paper.id == state.primary_id), "none")
    written, note = structured(client, system, prompt.user(state.question, claims_block(state, nonce), primary), WriterReply, "Report writer")
    if written is None:
        return None, note
    problem = next((why for why in (leak(written.abstract, system), leak(written.answer, system)) if why), None)
    if problem:
        return None, f"Report writer: the model's text was not used because {problem}; used the offline template instead."
    return written, None


def report(state: ResearchState, runtime: Runtime[Configuration]) -> dict:
    from sovereign.adapters.models import chat_client
    from sovereign.llm import model_label

    cfg = Configuration.from_runtime(runtime)
    client = chat_client(cfg)
    written, label = None, "offline template"
    if client is not None and state.claims:
        written, note = nim_written(client, state)
        if written is not None:
            label = model_label(client)
        else:
            state = state.model_copy(update={"uncertainties": state.uncertainties + [note]})
    rep = build_report(state, cfg, written=written, writer_label=label)
    if cfg.output_dir:
        from sovereign.output import write_report

        write_report(rep, cfg.output_dir)
    return {"report": rep.model_dump(mode="json")}
