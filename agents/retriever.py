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
    corpus = load_corpus(cfg.corpus_path, snapshot=cfg.cache)
    return searcher_for(corpus, cfg.offline_embed_dim, persist=cfg.cache).search(query, cfg.papers_per_query)


def local_notes(cfg: Configuration) -> list[str]:
    """Problems of the local source for the report: unreadable corpus records (every run), and what
    happened to the cached local index (reported once, by the run that met it)."""
    corpus = load_corpus(cfg.corpus_path, snapshot=cfg.cache)
    notes = corpus.problems()
    searcher = searcher_for(corpus, cfg.offline_embed_dim, persist=cfg.cache)
    taken, searcher.notes[:] = list(searcher.notes), []
    return notes + taken


def injection_note(paper: Paper, removed: int) -> str:
    return (
        f"Paper {paper.id}: {removed} instruction-like sentence(s) addressed to an AI system (possible prompt "
        "injection) were removed from its title/abstract before analysis; they were not used as claims, evidence "
        "or instructions."
    )


def sanitize_hits(results: list[tuple[Paper, float]]) -> tuple[list[tuple[Paper, float]], list[str]]:
    """Remote papers without instruction-like sentences (the local corpus is sanitised when read)."""
    from sovereign.adapters.corpus import sanitize_text

    out, notes = [], []
    for paper, score in results:
        title, abstract, removed = sanitize_text(paper.title, paper.abstract)
        if removed:
            notes.append(injection_note(paper, removed))
            if not title:
                continue  # nothing but instructions
            paper = paper.model_copy(update={"title": title, "abstract": abstract})
        out.append((paper, score))
    return out, notes


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
    notes: list[str] = []
    for source in cfg.sources:
        try:
            results = cached_search(source, query, cfg)
            if source == "local":
                notes += local_notes(cfg)
                sanitized = load_corpus(cfg.corpus_path, snapshot=cfg.cache).sanitized_counts()
                notes += [injection_note(p, sanitized[p.id]) for p, _ in results if p.id in sanitized]
            else:
                results, injected = sanitize_hits(results)
                notes += injected
        except Exception as exc:  # one source failing must not end the run
            errors.append(f"{source} search failed for {query!r}: {one_line(exc)}")
            continue
        hits += [SearchHit(query=query, rank=i, score=s, paper=p, round=rnd) for i, (p, s) in enumerate(results)]
    notes += cache_notes(cfg)
    out: dict = {"hits": hits, "source_errors": errors}
    if notes:
        out["uncertainties"] = list(dict.fromkeys(notes))
    return out


def cache_notes(cfg: Configuration) -> list[str]:
    """What happened to the disk cache (a corrupt file moved aside...), reported once."""
    if not cfg.cache:
        return []
    from sovereign.adapters.cache import get_cache

    return [f"Cache: {n}." for n in get_cache().take_notes()]


def one_line(exc: BaseException) -> str:
    """One line about a source failure, without secrets; names timeouts and refused connections."""
    import httpx

    from sovereign.redact import redact

    if isinstance(exc, httpx.TimeoutException):
        return f"the request timed out ({exc.__class__.__name__})"
    if isinstance(exc, httpx.ConnectError):
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return "cannot connect to the source" + (f" ({detail[:120]})" if detail else "")
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
    return redact(text)[:200]


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


def embed_concurrently(embedder, texts: list[str], question: str, papers: list[Paper], cfg: Configuration):
    """Document vectors and the question vector, requested at the same time. With a remote
    embedder (NIM) the evidence passages of these papers are embedded in the same wave: they land in
    the embedding cache, so the verifier later finds them there instead of waiting for a request."""
    from sovereign.concurrency import map_in_threads

    jobs = [lambda: embedder.embed_documents(texts), lambda: embedder.embed_query(question)]
    if cfg.verify_method == "evidence" and hasattr(embedder, "embed_queries") and cfg.cache:
        from sovereign.evidence import passages_of

        passages = [p.text for p in passages_of(papers)]
        jobs.append(lambda: embedder.embed_documents(passages))
    results = map_in_threads(lambda job: job(), jobs, len(jobs))
    return results[0], results[1]


def index(state: ResearchState, runtime: Runtime[Configuration]) -> dict:
    """Merge all hits so far, rank them against the question, embed them into FAISS."""
    cfg = Configuration.from_runtime(runtime)
    papers, found_by = dedupe(state.hits)
    if not papers:
        failed = {e.split(" search failed", 1)[0] for e in state.source_errors}
        answered = [s for s in cfg.sources if s not in failed]
        why = (
            f"{', '.join(answered)} returned no result for any of the {len(state.queries)} queries"
            if answered
            else "every source failed (see the source problems below)"
        )
        return {
            "papers": [],
            "primary_id": None,
            "index_info": {"vectors": 0},
            "uncertainties": [f"No paper was found for any query: {why}; the report has nothing to analyse."],
        }
    texts = [p.text for p in papers]
    notes: list[str] = []
    bare = [p for p in papers if not p.abstract.strip()]
    notes += [
        f"Paper {p.id} (from {p.source}) has no abstract: it was ranked on its title alone, and no claim or evidence "
        "can come from it."
        for p in bare[:5]
    ]
    if len(bare) > 5:
        notes.append(f"{len(bare) - 5} more retrieved paper(s) have no abstract.")
    try:
        embedder = embedder_for(cfg)
        vectors, q_vec = embed_concurrently(embedder, texts, state.question, papers, cfg)
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
