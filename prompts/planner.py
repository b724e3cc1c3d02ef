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


def prefetch_plan(question: str, cfg) -> None:
    """Send the planner's model call right away (it needs nothing but the question), so that it
    overlaps the process's start-up (imports, index loading); the plan node picks up the answer.
    Imports nothing heavy itself."""
    import time

    from sovereign.llm import prefetch

    deadline = time.monotonic() + cfg.deadline_seconds  # the run starts now

    def make_client():
        # runs in the prefetch thread, first thing: the call obeys the run's deadline like every model call
        # made inside a node (request timeouts capped, no attempt after it); the thread serves this call only
        from sovereign.adapters.models import chat_client
        from sovereign.concurrency import DEADLINE

        DEADLINE.set(deadline)
        return chat_client(cfg)

    system, user_text = planner_prompts(question, cfg)
    prefetch(make_client, system, user_text, PlannerReply, "Query planner")
