"""Planner: turns the research question into N distinct search queries.

Offline algorithm (named "offline key-phrase planner" in reports): the question's key phrases
(content-word runs) and named entities are combined into queries: all key terms first, then the
main entity with each phrase, then phrases alone, until N distinct queries exist.
"""

from __future__ import annotations

from langgraph.runtime import Runtime

from sovereign.graph.configuration import Configuration
from sovereign.graph.state import ResearchState
from sovereign.text import entities, key_phrases, normalize

OFFLINE_PLANNER = "offline key-phrase planner"


def offline_queries(question: str, n: int) -> list[str]:
    """N distinct queries from the question's key phrases (pure, deterministic)."""
    phrases = key_phrases(question)
    ents = entities(question)
    # the anchor is the most specific name in the question (e.g. "W.A.L.T"): prefer an entity
    # that stands as a phrase of its own, else the first entity
    anchor = next((p for p in phrases if p in ents), ents[0] if ents else None)
    others = [p for p in phrases if p != anchor]
    candidates: list[str] = [" ".join(phrases)]
    if anchor:
        candidates += [p if normalize(anchor) in normalize(p) else f"{anchor} {p}" for p in others]
    candidates += others + ents
    # wider combinations when the question is short
    candidates += [f"{a} {b}" for i, a in enumerate(others) for b in others[i + 1 :]]
    out: list[str] = []
    seen: set[str] = set()
    for c in candidates:
        key = " ".join(sorted(normalize(c).split()))
        if c.strip() and key not in seen:
            seen.add(key)
            out.append(c.strip())
        if len(out) == n:
            break
    return out or [question.strip()]


def broaden_queries(question: str, titles: list[str], already: list[str], n: int) -> list[str]:
    """Revision-round queries: key phrases of the best papers' titles joined to the question's
    phrases, skipping queries already issued. Deterministic."""
    seen = {" ".join(sorted(normalize(q).split())) for q in already}
    phrases = key_phrases(question)
    candidates = []
    for title in titles:
        for tp in key_phrases(title)[:2]:
            for qp in phrases[:3]:
                if not set(normalize(tp).split()) & set(normalize(qp).split()):
                    candidates.append(f"{qp} {tp}")
    candidates += phrases
    out = []
    for c in candidates:
        key = " ".join(sorted(normalize(c).split()))
        if key not in seen:
            seen.add(key)
            out.append(c)
        if len(out) == n:
            break
    return out


def plan(state: ResearchState, runtime: Runtime[Configuration]) -> dict:
    cfg = Configuration.from_runtime(runtime)
    queries = offline_queries(state.question, cfg.n_queries)
    return {"queries": queries, "round_queries": queries}
