"""Prompt: query planner (and the schema of its reply)."""

from pydantic import BaseModel, Field

SYSTEM = (
    "You are the query planner of a literature research system. Given a research question, write "
    "{n} diverse search queries for arXiv-style paper search: short keyword queries (2-8 words), each "
    "covering a different aspect (the named method, the mechanism asked about, the metric, related "
    "methods, broader context). No quotes, no boolean operators."
)


def user(question: str, n: int) -> str:
    return f"Research question: {question}\nWrite exactly {n} queries."


class PlannerReply(BaseModel):
    queries: list[str] = Field(min_length=1, max_length=32, description="Search queries, one aspect each.")


def planner_prompts(question: str, cfg) -> tuple[str, str]:
    return SYSTEM.format(n=cfg.n_queries), user(question, cfg.n_queries)
