"""Typed state of the research graph and the records it carries.

Every node returns only the keys it changes. Keys written by parallel branches (search, the three
reviewers, per-node timings) merge through the reducers declared with ``Annotated``.
"""

from __future__ import annotations

import operator
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_QUESTION_CHARS = 2000
"""Documented upper bound on the length of a research question (characters)."""

Role = Literal["SKEPTIC", "VALIDATOR", "SYNTHESIZER"]
Verdict = Literal["ACCEPT", "REVISE", "FAIL"]
Policy = Literal["PUBLISH", "ESCALATE_TO_OWNER", "REJECT"]
Label = Literal["SUPPORTED", "CONTRADICTED", "UNSUPPORTED"]


def validate_question(question: str) -> str:
    """Return the stripped question or raise ``ValueError`` with a one-line reason."""
    if not isinstance(question, str):
        raise ValueError("question must be a string")
    q = question.strip()
    if not q:
        raise ValueError("question is empty")
    if len(q) > MAX_QUESTION_CHARS:
        raise ValueError(f"question is {len(q)} characters long; the limit is {MAX_QUESTION_CHARS}")
    if any(_is_control(c) for c in q):
        raise ValueError("question contains control characters")
    return q


_BIDI_CONTROLS = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _is_control(c: str) -> bool:
    """C0/C1 control characters (tab and newline allowed) and bidirectional overrides."""
    import unicodedata

    return (unicodedata.category(c) == "Cc" and c not in "\t\n") or c in _BIDI_CONTROLS


class Paper(BaseModel):
    """One paper as the kernel sees it, whatever source it came from."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(description="Canonical id: arXiv id without version, else 'doi:...' or 'openalex:W...'.")
    title: str
    authors: list[str] = Field(default_factory=list)
    abstract: str = ""
    year: int | None = None
    published: str | None = Field(default=None, description="v1 date, YYYY-MM or YYYY-MM-DD.")
    categories: list[str] = Field(default_factory=list)
    doi: str | None = None
    url: str | None = None
    arxiv_id: str | None = None
    openalex_id: str | None = None
    source: str = Field(default="local", description="Where the record came from: local, arxiv, openalex.")
    summary_source: str | None = Field(
        default=None, description="'written for this corpus' when the abstract is the project's own summary."
    )

    @property
    def text(self) -> str:
        return f"{self.title}. {self.abstract}".strip()


class SearchHit(BaseModel):
    """A paper returned for one query, with its rank in that query's result list."""

    query: str
    rank: int
    score: float
    paper: Paper
    round: int = 0


class RankedPaper(BaseModel):
    paper: Paper
    score: float = Field(description="Fused relevance to the question (higher is better).")
    relevance: float = Field(description="Cosine similarity of the paper to the question (embedding space).")
    queries: list[str] = Field(default_factory=list, description="The queries that found this paper.")


class Claim(BaseModel):
    id: str
    text: str
    source_id: str = Field(description="Id of the paper the claim was extracted from.")
    extractor: str = Field(default="offline-extractive", description="Which algorithm or model wrote the claim.")


class Verification(BaseModel):
    claim_id: str
    method: str = Field(description="tfidf (the seeds' baseline) or evidence.")
    verified: bool
    confidence: float = Field(ge=0.0, le=1.0, description="tfidf: the max cosine; evidence: P(label is right), calibrated.")
    p_supported: float = Field(default=0.0, ge=0.0, le=1.0, description="Score that the claim is supported (for ranking/AUROC).")
    label: Label = "UNSUPPORTED"
    evidence_id: str | None = Field(default=None, description="Paper whose passage the label rests on.")
    evidence_ids: list[str] = Field(default_factory=list, description="Top-3 candidate evidence papers, best first.")
    evidence_quote: str | None = None
    independent: bool = Field(default=False, description="True when the evidence comes from another paper.")
    self_score: float | None = Field(default=None, description="Support by the claim's own source (self-reported).")
    self_quote: str | None = Field(default=None, description="Best passage of the claim's own source (self-reported).")
    score: float | None = Field(default=None, description="Raw relatedness of claim and evidence (before calibration).")
    judge: str = Field(default="offline", description="Who chose the label: 'offline' scorer or 'llm' judge.")
    cue: str | None = Field(
        default=None, description="For CONTRADICTED: the explicit cue (negation, opposite, number_conflict), if any."
    )


class Finding(BaseModel):
    text: str
    claim_ids: list[str] = Field(default_factory=list)
    paper_ids: list[str] = Field(default_factory=list)


class Action(BaseModel):
    kind: Literal["search_more", "drop_claim", "reverify", "rewrite_synthesis"]
    queries: list[str] = Field(default_factory=list)
    claim_ids: list[str] = Field(default_factory=list)
    reason: str = ""


class Review(BaseModel):
    role: Role
    round: int
    score: float = Field(ge=0.0, le=10.0)
    rationale: str
    findings: list[Finding] = Field(default_factory=list)
    actions: list[Action] = Field(default_factory=list)
    signals: dict[str, float] = Field(default_factory=dict, description="Measured signals the score came from.")
    reviewer: str = Field(default="offline rubric review")


class TribunalRound(BaseModel):
    round: int
    score: float
    verdict: Verdict
    reviews: list[Review]
    changes: list[str] = Field(default_factory=list, description="What the revision after this round changed.")


class OwnerDecision(BaseModel):
    decision: Literal["approve", "reject", "revise"]
    note: str = Field(default="", max_length=2000)


def merge_timings(left: dict[str, float], right: dict[str, float]) -> dict[str, float]:
    out = dict(left or {})
    for key, value in (right or {}).items():
        out[key] = round(out.get(key, 0.0) + value, 6)
    return out


def merge_labels(left: dict[str, str], right: dict[str, str]) -> dict[str, str]:
    out = dict(left or {})
    for key, value in (right or {}).items():
        if key in out and value not in out[key].split(" + "):
            out[key] = f"{out[key]} + {value}"
        else:
            out[key] = value
    return out


class InputState(BaseModel):
    """What a caller must provide: only the research question."""

    question: str = Field(description="The research question, in plain language.")

    @field_validator("question")
    @classmethod
    def _check_question(cls, v: str) -> str:
        return validate_question(v)


class ResearchState(InputState):
    """The whole state of one research run."""

    queries: list[str] = Field(default_factory=list, description="All queries issued, every round.")
    round_queries: list[str] = Field(default_factory=list, description="Queries of the current round.")
    hits: Annotated[list[SearchHit], operator.add] = Field(default_factory=list)
    source_errors: Annotated[list[str], operator.add] = Field(default_factory=list)
    papers: list[RankedPaper] = Field(default_factory=list, description="De-duplicated, ranked papers.")
    primary_id: str | None = None
    index_info: dict[str, str | int | float] = Field(default_factory=dict)
    claims: list[Claim] = Field(default_factory=list)
    dropped_claims: list[str] = Field(default_factory=list)
    verifications: list[Verification] = Field(default_factory=list)
    baseline: list[Verification] = Field(default_factory=list, description="The seeds' TF-IDF verdicts, for comparison.")
    reviews: Annotated[list[Review], operator.add] = Field(default_factory=list)
    rounds: list[TribunalRound] = Field(default_factory=list)
    revision_round: int = 0
    score: float | None = None
    verdict: Verdict | None = None
    policy: Policy | None = None
    policy_reasons: list[str] = Field(default_factory=list)
    owner: OwnerDecision | None = None
    owner_review: bool = Field(default=False, description="Whether an owner is attached (fixed at the start of the run).")
    started_at: float | None = Field(default=None, description="Wall-clock start of the run (epoch seconds).")
    owner_notes: list[str] = Field(default_factory=list, description="Notes of owner 'revise' decisions, as requested actions.")
    uncertainties: Annotated[list[str], operator.add] = Field(default_factory=list)
    agents: Annotated[dict[str, str], merge_labels] = Field(
        default_factory=dict, description="Which algorithm or model played each role in this run."
    )
    timings: Annotated[dict[str, float], merge_timings] = Field(default_factory=dict)
    report: dict | None = Field(default=None, description="The final report (Report model as JSON).")


# ----------------------------------------------------------------------------- report contract


class ReportPaper(BaseModel):
    id: str
    title: str
    authors: list[str]
    year: int | None
    url: str | None
    doi: str | None = None
    source: str = "local"
    relevance: float = 0.0


class ReportClaim(BaseModel):
    id: str
    text: str
    source_id: str
    verified: bool
    confidence: float
    label: Label = "UNSUPPORTED"
    evidence_id: str | None = None
    evidence_quote: str | None = None
    independent: bool = False
    self_reported: str | None = Field(default=None, description="The source paper's own supporting passage.")
    baseline_verified: bool | None = Field(default=None, description="The seeds' TF-IDF baseline verdict, for comparison.")
    baseline_confidence: float | None = None
    method: str = "tfidf"


class ReportReview(BaseModel):
    role: Role
    round: int
    score: float
    rationale: str
    reviewer: str


class ReportTribunal(BaseModel):
    reviews: list[ReportReview]
    score: float
    verdict: Verdict
    revision_round: int
    rounds: list[TribunalRound] = Field(default_factory=list)


class Report(BaseModel):
    """The report contract: report.json is this model; report.md renders the same content."""

    title: str
    date: str
    question: str
    provider: str
    agents: dict[str, str] = Field(description="Which algorithm or model played each role.")
    queries: list[str]
    sources: list[str]
    embedding_model: str
    verification: dict[str, str | float]
    abstract: str
    answer: str = Field(default="", description="A short direct answer to the question, hedged by the evidence.")
    introduction: str
    papers: list[ReportPaper]
    primary_paper: ReportPaper | None
    claims: list[ReportClaim]
    tribunal: ReportTribunal
    policy: Policy
    policy_reasons: list[str]
    owner: OwnerDecision | None = None
    owner_review: bool = Field(default=False, description="Whether an owner is attached (fixed at the start of the run).")
    started_at: float | None = Field(default=None, description="Wall-clock start of the run (epoch seconds).")
    owner_notes: list[str] = Field(default_factory=list, description="Notes of owner 'revise' decisions, as requested actions.")
    uncertainties: list[str]
    references: list[str]
    reference_ids: list[str] = Field(default_factory=list, description="Paper ids of the references, in order.")
    metrics: dict[str, float | int | dict[str, float]]
    markdown: str = Field(default="", description="The rendered report.md.")

    def to_markdown(self) -> str:
        """The report as Markdown (report.md)."""
        return self.markdown

    def to_json(self, indent: int | None = 2) -> str:
        """The report as JSON (report.json; schema in docs/report.schema.json)."""
        return self.model_dump_json(indent=indent)
