"""OpenAlex source: works search over title and abstract; abstracts rebuilt from the inverted index."""

from __future__ import annotations

import re

from sovereign.adapters import http
from sovereign.graph.configuration import Configuration
from sovereign.graph.state import Paper


class OpenAlexError(Exception):
    """OpenAlex answered with something that is not a works list (unparsable or unexpected JSON)."""


_ARXIV_IN_URL = re.compile(r"arxiv\.org/(?:abs|pdf)/([^\s?#]+?)(?:v\d+)?(?:\.pdf)?$")


def rebuild_abstract(inverted: dict[str, list[int]] | None) -> str:
    if not inverted or not isinstance(inverted, dict):
        return ""
    positions = [
        (pos, word)
        for word, poss in inverted.items()
        if isinstance(poss, list)
        for pos in poss
        if isinstance(pos, int) and not isinstance(pos, bool)
    ]
    return " ".join(str(word) for _, word in sorted(positions))


def _arxiv_id(work: dict) -> str | None:
    for loc in [work.get("primary_location") or {}, *(work.get("locations") or [])]:
        for key in ("landing_page_url", "pdf_url"):
            m = _ARXIV_IN_URL.search((loc or {}).get(key) or "")
            if m:
                return m.group(1)
    doi = (work.get("doi") or "").lower()
    m = re.search(r"10\.48550/arxiv\.(.+)$", doi)
    return m.group(1) if m else None


def _str(value) -> str:
    return value if isinstance(value, str) else ""


def work_to_paper(work: dict) -> Paper | None:
    """A Paper from one OpenAlex work; ``None`` when the work has no title. Raises ``ValueError``
    or ``TypeError`` when the record does not have the documented shape."""
    if not isinstance(work, dict):
        raise TypeError("work is not a JSON object")
    title = " ".join((_str(work.get("title")) or _str(work.get("display_name"))).split())
    if not title:
        return None
    openalex_id = _str(work.get("id")).rsplit("/", 1)[-1] or None
    doi = _str(work.get("doi")) or None
    doi = re.sub(r"^https?://(dx\.)?doi\.org/", "", doi, flags=re.I) if doi else None
    arxiv_id = _arxiv_id(work)
    pid = arxiv_id or (f"doi:{doi}" if doi else f"openalex:{openalex_id}")
    return Paper(
        id=pid,
        title=title,
        abstract=rebuild_abstract(work.get("abstract_inverted_index")),
        authors=[
            _str(a["author"].get("display_name"))
            for a in (work.get("authorships") if isinstance(work.get("authorships"), list) else [])
            if isinstance(a, dict) and isinstance(a.get("author"), dict)
        ],
        year=work.get("publication_year") if isinstance(work.get("publication_year"), int) else None,
        published=_str(work.get("publication_date")) or None,
        doi=doi,
        arxiv_id=arxiv_id,
        openalex_id=openalex_id,
        url=f"https://arxiv.org/abs/{arxiv_id}" if arxiv_id else (f"https://doi.org/{doi}" if doi else _str(work.get("id")) or None),
        source="openalex",
    )


def search_openalex(query: str, cfg: Configuration) -> list[tuple[Paper, float]]:
    params = {"filter": f"title_and_abstract.search:{query}", "per-page": cfg.papers_per_query}
    if cfg.openalex_mailto:
        params["mailto"] = cfg.openalex_mailto
    response = http.get(cfg.openalex_url.rstrip("/") + "/works", params=params)
    try:
        data = response.json()
    except ValueError:
        raise OpenAlexError(f"OpenAlex answered with unparsable JSON ({len(response.content)} bytes)") from None
    results = data.get("results") if isinstance(data, dict) else None
    if not isinstance(results, list):
        raise OpenAlexError("OpenAlex answered with JSON that is not a works list (no 'results' array)")
    papers, malformed = [], 0
    for work in results:
        try:
            paper = work_to_paper(work)
        except (ValueError, TypeError, AttributeError, KeyError):  # one malformed record: skip it, keep the rest
            malformed += 1
            continue
        if paper is not None:
            papers.append(paper)
    if results and malformed == len(results):
        raise OpenAlexError(f"none of the {len(results)} OpenAlex records has the expected shape")
    papers = papers[: cfg.papers_per_query]
    n = max(len(papers), 1)
    return [(p, 1.0 - i / n) for i, p in enumerate(papers)]
