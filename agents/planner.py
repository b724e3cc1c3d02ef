"""Planner: turns the research question into N distinct search queries.

Offline algorithm (named "offline key-phrase planner" in reports): the question's key phrases
(content-word runs) and named entities are combined into queries: all key terms first, then the
main entity with each phrase, then phrases alone, until N distinct queries exist.
"""

from __future__ import annotations

from langgraph.runtime import Runtime

from sovereign.graph.configuration import Configuration
from sovereign.graph.state import ResearchState
from sovereign.prompts.planner import PlannerReply, planner_prompts
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
    words = [w for p in others for w in p.split() if len(w) > 2]
    if anchor:
        candidates += [f"{anchor} {w}" for w in words if normalize(w) != normalize(anchor)]
    candidates += words + [question.strip().rstrip("?")]
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


def clean_queries(proposed: list[str], question: str, n: int) -> list[str]:
    """Model queries trimmed, de-duplicated and topped up with offline ones to exactly n (pure)."""
    out: list[str] = []
    seen: set[str] = set()
    for q in proposed + offline_queries(question, n):
        q = " ".join(str(q).replace('"', " ").split())[:120]
        key = " ".join(sorted(normalize(q).split()))
        if q and key not in seen:
            seen.add(key)
            out.append(q)
        if len(out) == n:
            break
    return out


def warm_local_index(cfg: Configuration) -> None:
    """Load the local corpus index (and the verifier's word statistics) in a background thread."""
    if "local" not in cfg.sources:
        return
    import threading

    def warm():
        try:
            from sovereign.adapters.corpus import load_corpus
            from sovereign.adapters.local_source import searcher_for

            searcher_for(load_corpus(cfg.corpus_path, snapshot=cfg.cache), cfg.offline_embed_dim, persist=cfg.cache)
            if cfg.verify_method == "evidence":
                from sovereign.evidence import warm_up

                warm_up()  # the verifier's word statistics and first-use costs
        except Exception:  # the search node reports problems itself
            pass

    threading.Thread(target=warm, name="sovereign-warm-index", daemon=True).start()


def plan(state: ResearchState, runtime: Runtime[Configuration]) -> dict:
    from sovereign.adapters.models import chat_client
    from sovereign.llm import model_label, structured

    import time

    from sovereign.api import validate_request

    cfg = Configuration.from_runtime(runtime)
    # the same checks as the CLI and run_research, so graph-API and Studio runs are refused before
    # any work too (missing corpus, output path that is a file, ...)
    validate_request(state.question, **cfg.model_dump(exclude_unset=True))
    client = chat_client(cfg)
    base = {"owner_review": cfg.owner_review, "started_at": state.started_at or time.time()}
    if client is not None:
        warm_local_index(cfg)  # CPU work in the background while the planner waits on the model
        reply, note = structured(client, *planner_prompts(state.question, cfg), PlannerReply, "Query planner")
        if reply is not None:
            queries = clean_queries(reply.queries, state.question, cfg.n_queries)
            return {**base, "queries": queries, "round_queries": queries, "agents": {"planner": model_label(client)}}
        queries = offline_queries(state.question, cfg.n_queries)
        return {**base, "queries": queries, "round_queries": queries, "agents": {"planner": OFFLINE_PLANNER}, "uncertainties": [note]}
    queries = offline_queries(state.question, cfg.n_queries)
    return {**base, "queries": queries, "round_queries": queries, "agents": {"planner": OFFLINE_PLANNER}}
