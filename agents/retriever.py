"""Retriever: runs one query over the configured sources (one parallel branch per query), then
merges, de-duplicates and ranks everything found, picks the primary paper and embeds the papers
into a FAISS index."""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
from langgraph.runtime import Runtime

from sovereign.adapters.corpus import load_corpus
from sovereign.adapters.embeddings import make_tfidf
from sovereign.adapters.local_source import LEXICAL_WEIGHT, NAME_BONUS, searcher_for
from sovereign.adapters.models import embedder_for
from sovereign.adapters.vector_index import VectorIndex
from sovereign.graph.configuration import Configuration
from sovereign.graph.state import Paper, RankedPaper, ResearchState, SearchHit
from sovereign.text import names_question, normalize, paper_names

RRF_K = 60
RELEVANCE_WEIGHT = 0.75
"""Ranking: 0.75 x relevance to the question + 0.25 x reciprocal-rank fusion over the queries."""


def search_local(query: str, cfg: Configuration) -> list[tuple[Paper, float]]:
    corpus = load_corpus(cfg.corpus_path)
    return searcher_for(corpus, cfg.offline_embed_dim).search(query, cfg.papers_per_query)


def source_registry() -> dict[str, Callable[[str, Configuration], list[tuple[Paper, float]]]]:
    from sovereign.adapters.arxiv_source import search_arxiv
    from sovereign.adapters.openalex_source import search_openalex

    return {"local": search_local, "arxiv": search_arxiv, "openalex": search_openalex}


REMOTE_ENDPOINT = {"arxiv": "arxiv_url", "openalex": "openalex_url"}


def cached_search(source: str, query: str, cfg: Configuration) -> list[tuple[Paper, float]]:
    """Remote sources go through the disk cache: an identical query is not sent twice."""
    fn = source_registry()[source]
    if source not in REMOTE_ENDPOINT or not cfg.cache:
        return fn(query, cfg)
    import json

    from sovereign.adapters.cache import digest, get_cache

    key = digest("search", source, getattr(cfg, REMOTE_ENDPOINT[source]), query, str(cfg.papers_per_query))
    cache = get_cache()
    hit = cache.get_many([key]).get(key)
    if hit is not None:
        return [(Paper.model_validate(p), s) for p, s in json.loads(hit)]
    results = fn(query, cfg)
    cache.put_many({key: json.dumps([(p.model_dump(mode="json"), s) for p, s in results]).encode()})
    return results


def search(payload: dict, runtime: Runtime[Configuration]) -> dict:
    """One parallel branch: ``payload = {"query": str, "round": int}``."""
    cfg = Configuration.from_runtime(runtime)
    query, rnd = payload["query"], int(payload.get("round", 0))
    hits: list[SearchHit] = []
    errors: list[str] = []
    for source in cfg.sources:
        try:
            results = cached_search(source, query, cfg)
        except Exception as exc:  # one source failing must not end the run
            errors.append(f"{source} search failed for {query!r}: {one_line(exc)}")
            continue
        hits += [SearchHit(query=query, rank=i, score=s, paper=p, round=rnd) for i, (p, s) in enumerate(results)]
    return {"hits": hits, "source_errors": errors}


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
    return text[:200]


# ----------------------------------------------------------------------------- merge + rank


def _title_key(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", normalize(title)).strip()


def dedupe_keys(p: Paper) -> list[str]:
    keys = [f"t:{_title_key(p.title)}"]
    if p.arxiv_id:
        keys.append(f"a:{p.arxiv_id}")
    if p.doi:
        keys.append(f"d:{p.doi.lower()}")
    if p.openalex_id:
        keys.append(f"o:{p.openalex_id}")
    return keys


def merge_papers(a: Paper, b: Paper) -> Paper:
    """Same paper from two sources: keep the richer record, fill gaps from the other."""
    keep, other = (a, b) if len(a.abstract) >= len(b.abstract) else (b, a)
    update = {
        f: getattr(other, f)
        for f in ("doi", "arxiv_id", "openalex_id", "year", "published", "url")
        if not getattr(keep, f) and getattr(other, f)
    }
    if not keep.authors and other.authors:
        update["authors"] = other.authors
    if keep.arxiv_id is None and other.arxiv_id:
        update["id"] = other.arxiv_id
    return keep.model_copy(update=update)


def dedupe(hits: list[SearchHit]) -> tuple[list[Paper], dict[str, list[SearchHit]]]:
    """Unique papers (first-seen order) and, per unique paper id, the hits that found it."""
    key_to_slot: dict[str, int] = {}
    papers: list[Paper] = []
    slot_hits: list[list[SearchHit]] = []
    for hit in hits:
        keys = dedupe_keys(hit.paper)
        slot = next((key_to_slot[k] for k in keys if k in key_to_slot), None)
        if slot is None:
            slot = len(papers)
            papers.append(hit.paper)
            slot_hits.append([])
        else:
            papers[slot] = merge_papers(papers[slot], hit.paper)
        for k in dedupe_keys(papers[slot]):
            key_to_slot[k] = slot
        slot_hits[slot].append(hit)
    return papers, {papers[i].id: h for i, h in enumerate(slot_hits)}


def relevance_scores(question: str, texts: list[str], doc_vecs: np.ndarray, q_vec: np.ndarray) -> np.ndarray:
    """Hybrid relevance of each text to the question: lexical TF-IDF (fitted on these texts) and
    embedding cosine, weighted like the local search."""
    if not texts:
        return np.zeros(0)
    vec = make_tfidf(sublinear_tf=True, stop_words="english")
    m = vec.fit_transform(texts)
    lex = (m @ vec.transform([question]).T).toarray().ravel()
    dense = np.clip(doc_vecs @ q_vec, 0.0, 1.0)
    return LEXICAL_WEIGHT * lex + (1 - LEXICAL_WEIGHT) * dense


def name_bonus(question: str, papers: list[Paper]) -> np.ndarray:
    return np.array([NAME_BONUS if names_question(question, paper_names(p.title, p.abstract)) else 0.0 for p in papers])


def rank(question: str, papers: list[Paper], found_by: dict[str, list[SearchHit]], relevance: np.ndarray) -> list[RankedPaper]:
    rrf = np.array([sum(1.0 / (RRF_K + h.rank + 1) for h in found_by[p.id]) for p in papers])
    rrf_n = rrf / rrf.max() if len(rrf) and rrf.max() > 0 else rrf
    rel_n = relevance / relevance.max() if len(relevance) and relevance.max() > 0 else relevance
    fused = RELEVANCE_WEIGHT * rel_n + (1 - RELEVANCE_WEIGHT) * rrf_n
    order = sorted(range(len(papers)), key=lambda i: (-fused[i], papers[i].id))
    return [
        RankedPaper(
            paper=papers[i],
            score=round(float(fused[i]), 6),
            relevance=round(float(relevance[i]), 6),
            queries=list(dict.fromkeys(h.query for h in found_by[papers[i].id])),
        )
        for i in order
    ]


def index(state: ResearchState, runtime: Runtime[Configuration]) -> dict:
    """Merge all hits so far, rank them against the question, embed them into FAISS."""
    cfg = Configuration.from_runtime(runtime)
    papers, found_by = dedupe(state.hits)
    if not papers:
        return {
            "papers": [],
            "primary_id": None,
            "index_info": {"vectors": 0},
            "uncertainties": ["No paper was found for any query; the report has nothing to analyse."],
        }
    texts = [p.text for p in papers]
    notes: list[str] = []
    try:
        embedder = embedder_for(cfg)
        vectors = embedder.embed_documents(texts)
        q_vec = embedder.embed_query(state.question)
    except Exception as exc:
        from sovereign.adapters.nim import NimError

        if not isinstance(exc, NimError):
            raise
        notes.append(f"Embeddings: {exc}; ranked with the offline LSA embeddings instead.")
        embedder = embedder_for(cfg.model_copy(update={"provider": "offline"}))
        vectors = embedder.embed_documents(texts)
        q_vec = embedder.embed_query(state.question)
    faiss_index = VectorIndex(vectors)
    relevance = relevance_scores(state.question, texts, vectors, q_vec) + name_bonus(state.question, papers)
    ranked = rank(state.question, papers, found_by, relevance)
    return {
        "papers": ranked,
        "primary_id": ranked[0].paper.id,
        "index_info": {
            "vectors": faiss_index.size,
            "dim": faiss_index.dim,
            "index": "faiss.IndexFlatIP (cosine on L2-normalised vectors)",
            "embedder": embedder.name,
        },
        **({"uncertainties": notes} if notes else {}),
    }
