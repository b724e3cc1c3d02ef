"""arXiv and OpenAlex adapters against loopback servers that speak the real protocols
(FAKE data, real HTTP and real wire formats)."""

import time

import pytest

from sovereign.adapters.arxiv_source import ArxivFeedError, parse_feed, search_arxiv
from sovereign.adapters.openalex_source import rebuild_abstract, search_openalex
from sovereign.api import run_research
from sovereign.graph.configuration import Configuration

from conftest import WALT_QUESTION
from fakes.sources import WALT_ENTRY, FakeArxiv, FakeOpenAlex, openalex_work


def test_arxiv_request_uses_relevance_sort_and_max_results_and_parses_entries():
    second = {"id": "2401.03048", "version": "v3", "title": "Latte: Latent Diffusion Transformer for Video Generation",
              "summary": "Latte is a latent diffusion transformer.", "authors": ["Xin Ma", "Yaohui Wang"], "doi": "10.1000/latte"}
    with FakeArxiv([WALT_ENTRY, second]) as arxiv:
        cfg = Configuration(arxiv_url=arxiv.url, papers_per_query=2, arxiv_delay_seconds=0)
        results = search_arxiv("W.A.L.T causal encoder", cfg)
    params = arxiv.records[0]["params"]
    assert params["sortBy"] == "relevance" and params["sortOrder"] == "descending" and params["max_results"] == "2"
    assert params["search_query"] == "all:walt AND all:causal AND all:encoder"
    papers = [p for p, _ in results]
    assert [p.id for p in papers] == ["2312.06662", "2401.03048"]  # versions stripped
    walt, latte = papers
    assert walt.title == "Photorealistic Video Generation with Diffusion Models"  # newline in the title folded
    assert walt.authors == ["Agrim Gupta", "Lijun Yu", "Kihyuk Sohn"]
    assert walt.published == "2023-12-11" and walt.year == 2023
    assert walt.categories == ["cs.CV", "cs.LG"] and walt.url == "https://arxiv.org/abs/2312.06662"
    assert walt.source == "arxiv" and walt.doi is None and latte.doi == "10.1000/latte"


def test_arxiv_requests_are_spaced_by_the_configured_delay():
    with FakeArxiv() as arxiv:
        cfg = Configuration(arxiv_url=arxiv.url, arxiv_delay_seconds=0.4)
        for q in ("a b", "c d", "e f"):
            search_arxiv(q, cfg)
    times = [r["time"] for r in arxiv.records]
    assert all(b - a >= 0.38 for a, b in zip(times, times[1:])), times


def test_arxiv_default_delay_is_three_seconds_and_url_comes_from_env(monkeypatch):
    monkeypatch.setenv("ARXIV_API_URL", "http://127.0.0.1:9/api/query")
    cfg = Configuration()
    assert cfg.arxiv_delay_seconds == 3.0 and cfg.arxiv_url == "http://127.0.0.1:9/api/query"


def test_malformed_arxiv_xml_is_a_clear_error():
    with pytest.raises(ArxivFeedError, match="malformed arXiv feed"):
        parse_feed("<feed><entry><id>http://arxiv.org/abs/1</id>")


def test_openalex_rebuilds_abstract_keeps_doi_and_ids_and_sends_mailto():
    works = [
        openalex_work("Photorealistic Video Generation with Diffusion Models", "We present W.A.L.T a transformer", arxiv_id="2312.06662", wid="W1"),
        openalex_work("A journal paper", "Text of the abstract here", doi="10.1109/CVPR.2024.1", wid="W2"),
        openalex_work("A paper without abstract", "", wid="W3"),
    ]
    with FakeOpenAlex(works) as oa:
        cfg = Configuration(openalex_url=oa.url, openalex_mailto="lab@example.org", papers_per_query=5)
        papers = [p for p, _ in search_openalex("causal video encoder", cfg)]
    params = oa.records[0]["params"]
    assert params["filter"] == "title_and_abstract.search:causal video encoder"
    assert params["mailto"] == "lab@example.org" and params["per-page"] == "5"
    walt, journal, bare = papers
    assert walt.id == "2312.06662" and walt.openalex_id == "W1" and walt.abstract == "We present W.A.L.T a transformer"
    assert journal.id == "doi:10.1109/CVPR.2024.1" and journal.doi == "10.1109/CVPR.2024.1" and journal.url == "https://doi.org/10.1109/CVPR.2024.1"
    assert bare.abstract == "" and bare.id == "openalex:W3"


def test_rebuild_abstract_orders_words_by_position():
    assert rebuild_abstract({"world": [1], "hello": [0, 2]}) == "hello world hello"
    assert rebuild_abstract(None) == ""


def test_sources_combine_and_the_same_paper_appears_once():
    works = [openalex_work("Photorealistic Video Generation with Diffusion Models", "We present W.A.L.T, a transformer approach", arxiv_id="2312.06662")]
    with FakeArxiv() as arxiv, FakeOpenAlex(works) as oa:
        rep = run_research(
            WALT_QUESTION, provider="offline", sources="local,arxiv,openalex", arxiv_url=arxiv.url,
            openalex_url=oa.url, arxiv_delay_seconds=0, n_queries=2, max_revision_rounds=0,
        )
    assert len(arxiv.records) == 2 and len(oa.records) == 2  # one request per query and source
    ids = [p.id for p in rep.papers]
    assert ids.count("2312.06662") == 1
    assert rep.primary_paper.id == "2312.06662"
    assert rep.sources == ["local", "arxiv", "openalex"]


def test_a_failing_source_degrades_the_run_instead_of_ending_it():
    with FakeArxiv(raw="<feed><entry>broken") as arxiv:
        rep = run_research(WALT_QUESTION, provider="offline", sources="local,arxiv", arxiv_url=arxiv.url, arxiv_delay_seconds=0, n_queries=2)
    assert rep.primary_paper.id == "2312.06662"
    assert any("arxiv search failed" in u and "malformed arXiv feed" in u for u in rep.uncertainties)


def test_a_second_identical_run_sends_no_search_request():
    with FakeArxiv() as arxiv:
        kwargs = dict(provider="offline", sources="arxiv", arxiv_url=arxiv.url, arxiv_delay_seconds=0, n_queries=2, max_revision_rounds=0)
        first = run_research(WALT_QUESTION, **kwargs)
        n = len(arxiv.records)
        second = run_research(WALT_QUESTION, **kwargs)
    assert n == 2 and len(arxiv.records) == n
    assert [p.id for p in first.papers] == [p.id for p in second.papers]
