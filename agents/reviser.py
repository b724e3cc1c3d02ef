"""Reviser: applies the tribunal's requested actions before the next review round.

search_more -> new queries (the reviewers' own, else broader ones built from the best papers'
titles), drop_claim -> the claim is removed from later rounds, reverify / rewrite_synthesis ->
happen anyway because every later step reruns on the enlarged paper set. The changes are recorded
on the round so the report can say what the revision did.
"""

from __future__ import annotations

from langgraph.runtime import Runtime

from sovereign.agents.planner import broaden_queries
from sovereign.graph.configuration import Configuration
from sovereign.graph.state import ResearchState
from sovereign.text import normalize


def plan_revision(state: ResearchState, cfg: Configuration) -> tuple[list[str], list[str], list[str]]:
    """(new queries, claim texts to drop, human-readable changes) from the current round's reviews."""
    current = [r for r in state.reviews if r.round == state.revision_round]
    issued = {normalize(q) for q in state.queries}
    queries: list[str] = []
    drop_ids: list[str] = []
    wants_search = False
    for review in current:
        for action in review.actions:
            if action.kind == "search_more":
                wants_search = True
                queries += [q for q in action.queries if normalize(q) not in issued]
            elif action.kind == "drop_claim":
                drop_ids += action.claim_ids
    # an owner's "revise" note is a requested action: its key phrases become queries
    if state.owner is not None and state.owner.decision == "revise" and state.owner_notes:
        from sovereign.text import key_phrases

        note = state.owner_notes[-1]
        queries = [q for q in key_phrases(note)[:3] if normalize(q) not in issued] + queries
        wants_search = True
    queries = list(dict.fromkeys(queries))
    if wants_search or not queries:
        titles = [r.paper.title for r in state.papers[:3]]
        queries += broaden_queries(state.question, titles, state.queries + queries, cfg.n_queries)
    queries = list(dict.fromkeys(queries))[: cfg.n_queries]
    by_id = {c.id: c for c in state.claims}
    drop_texts = [by_id[i].text for i in dict.fromkeys(drop_ids) if i in by_id]
    changes = []
    if queries:
        changes.append(f"searched {len(queries)} new queries: " + "; ".join(queries))
    if drop_texts:
        changes.append(f"dropped {len(drop_texts)} contradicted or weakly supported claim(s): " + ", ".join(dict.fromkeys(drop_ids)))
    changes.append("re-ranked papers, re-extracted and re-verified claims on the enlarged paper set")
    return queries, drop_texts, changes


def revise(state: ResearchState, runtime: Runtime[Configuration]) -> dict:
    cfg = Configuration.from_runtime(runtime)
    queries, drop_texts, changes = plan_revision(state, cfg)
    rounds = list(state.rounds)
    if state.owner is not None and state.owner.decision == "revise":
        changes.insert(0, f"owner asked for a revision: {state.owner.note or '(no note)'}")
    if rounds:
        rounds[-1] = rounds[-1].model_copy(update={"changes": changes})
    return {
        "revision_round": state.revision_round + 1,
        "round_queries": queries,
        "queries": state.queries + queries,
        "dropped_claims": state.dropped_claims + drop_texts,
        "rounds": rounds,
    }
