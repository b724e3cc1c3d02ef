"""OpenAlex source: works search over title and abstract; abstracts rebuilt from the inverted index."""

from __future__ import annotations

import re

from sovereign.adapters import http
from sovereign.graph.configuration import Configuration
from sovereign.graph.state import Paper

_ARXIV_IN_URL = re.compile(r"arxiv\.org/(?:abs|pdf)/([^\s?#]+?)(?:v\d+)?(?:\.pdf)?$")


def rebuild_abstract(inverted: dict[str, list[int]] | None) -> str:
    if not inverted:
        return ""
    positions = [(pos, word) for word, poss in inverted.items() for pos in poss]
    return " ".join(word for _, word in sorted(positions))


def _arxiv_id(work: dict) -> str | None:
    for loc in [work.get("primary_location") or {}, *(work.get("locations") or [])]:
        for key in ("landing_page_url", "pdf_url"):
            m = _ARXIV_IN_URL.search((loc or {}).get(key) or "")
            if m:
                return m.group(1)
    doi = (work.get("doi") or "").lower()
    m = re.search(r"10\.48550/arxiv\.(.+)$", doi)
    return m.group(1) if m else None


def work_to_paper(work: dict) -> Paper | None:
    title = " ".join((work.get("title") or work.get("display_name") or "").split())
    if not title:
        return None
    openalex_id = (work.get("id") or "").rsplit("/", 1)[-1] or None
    doi = work.get("doi")
    doi = re.sub(r"^https?://(dx\.)?doi\.org/", "", doi, flags=re.I) if doi else None
    arxiv_id = _arxiv_id(work)
    pid = arxiv_id or (f"doi:{doi}" if doi else f"openalex:{openalex_id}")
    return Paper(
        id=pid,
        title=title,
        abstract=rebuild_abstract(work.get("abstract_inverted_index")),
        authors=[(a.get("author") or {}).get("display_name", "") for a in work.get("authorships") or [] if a.get("author")],
        year=work.get("publication_year"),
        published=work.get("publication_date"),
        doi=doi,
        arxiv_id=arxiv_id,
        openalex_id=openalex_id,
        url=f"https://arxiv.org/abs/{arxiv_id}" if arxiv_id else (f"https://doi.org/{doi}" if doi else work.get("id")),
        source="openalex",
    )


def search_openalex(query: str, cfg: Configuration) -> list[tuple[Paper, float]]:
    params = {"filter": f"title_and_abstract.search:{query}", "per-page": cfg.papers_per_query}
    if cfg.openalex_mailto:
        params["mailto"] = cfg.openalex_mailto
    data = http.get(cfg.openalex_url.rstrip("/") + "/works", params=params).json()
    papers = [p for p in (work_to_paper(w) for w in data.get("results") or []) if p][: cfg.papers_per_query]
    n = max(len(papers), 1)
    return [(p, 1.0 - i / n) for i, p in enumerate(papers)]
