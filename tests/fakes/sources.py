"""Loopback servers speaking the arXiv API (Atom XML) and the OpenAlex works API (JSON).

The servers are real HTTP on 127.0.0.1 with a free port; what they serve is canned data shaped
exactly like the public services' answers (FAKE data, real protocol). Requests are recorded.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse
from xml.sax.saxutils import escape

ATOM_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <link href="http://arxiv.org/api/query?search_query%3Dall%3Awalt" rel="self" type="application/atom+xml"/>
  <title type="html">ArXiv Query: search_query=all:walt</title>
  <id>http://arxiv.org/api/fake</id>
  <updated>2026-11-25T00:00:00-05:00</updated>
  <opensearch:totalResults xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">{n}</opensearch:totalResults>
  <opensearch:startIndex xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">0</opensearch:startIndex>
  <opensearch:itemsPerPage xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">{n}</opensearch:itemsPerPage>
"""

ENTRY = """  <entry>
    <id>http://arxiv.org/abs/{id}{version}</id>
    <updated>2023-12-11T18:59:57Z</updated>
    <published>{published}</published>
    <title>{title}</title>
    <summary>{summary}</summary>
{authors}
    {doi}
    <link href="http://arxiv.org/abs/{id}{version}" rel="alternate" type="text/html"/>
    <link title="pdf" href="http://arxiv.org/pdf/{id}{version}" rel="related" type="application/pdf"/>
    <arxiv:primary_category xmlns:arxiv="http://arxiv.org/schemas/atom" term="{cat}" scheme="http://arxiv.org/schemas/atom"/>
    <category term="{cat}" scheme="http://arxiv.org/schemas/atom"/>
    <category term="cs.LG" scheme="http://arxiv.org/schemas/atom"/>
  </entry>
"""


def atom_feed(entries: list[dict]) -> str:
    body = ATOM_HEAD.format(n=len(entries))
    for e in entries:
        authors = "\n".join(f"    <author>\n      <name>{escape(a)}</name>\n    </author>" for a in e["authors"])
        doi = f'<arxiv:doi xmlns:arxiv="http://arxiv.org/schemas/atom">{e["doi"]}</arxiv:doi>' if e.get("doi") else ""
        body += ENTRY.format(
            id=e["id"], version=e.get("version", "v1"), published=e.get("published", "2023-12-11T18:59:57Z"),
            title=escape(e["title"]).replace(" ", "\n  ", 1), summary=escape(e["summary"]), authors=authors, doi=doi,
            cat=e.get("cat", "cs.CV"),
        )
    return body + "</feed>\n"


WALT_ENTRY = {
    "id": "2312.06662", "version": "v1", "title": "Photorealistic Video Generation with Diffusion Models",
    "summary": "We present W.A.L.T, a transformer-based approach for photorealistic video generation via diffusion modeling.",
    "authors": ["Agrim Gupta", "Lijun Yu", "Kihyuk Sohn"], "published": "2023-12-11T18:59:57Z",
}


class _Server:
    def __init__(self, handler_factory):
        self.records: list[dict] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler_factory(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def _handler(owner, respond):
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_GET(self):
            url = urlparse(self.path)
            params = {k: v[0] for k, v in parse_qs(url.query).items()}
            with owner.lock:
                owner.records.append({"path": url.path, "params": params, "time": time.monotonic()})
            status, ctype, body, headers = respond(owner, url.path, params)
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

    return H


class FakeArxiv(_Server):
    """GET /api/query -> Atom feed of ``entries`` (or ``raw`` when set, e.g. malformed XML)."""

    def __init__(self, entries: list[dict] | None = None, raw: str | None = None, status: int = 200):
        self.entries = entries if entries is not None else [WALT_ENTRY]
        self.raw = raw
        self.status = status
        super().__init__(lambda owner: _handler(owner, FakeArxiv._respond))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/query"

    @staticmethod
    def _respond(owner, path, params):
        if path != "/api/query":
            return 404, "text/plain", "not found", {}
        if owner.status != 200:
            return owner.status, "text/plain", "unavailable", {"Retry-After": "0"}
        n = int(params.get("max_results", 10))
        body = owner.raw if owner.raw is not None else atom_feed(owner.entries[:n])
        return 200, "application/atom+xml; charset=utf-8", body, {}


def openalex_work(title: str, abstract: str, doi: str | None = None, arxiv_id: str | None = None, wid: str = "W4389", year: int = 2023) -> dict:
    words = abstract.split()
    inverted: dict[str, list[int]] = {}
    for i, w in enumerate(words):
        inverted.setdefault(w, []).append(i)
    locations = [{"landing_page_url": f"https://arxiv.org/abs/{arxiv_id}v2", "pdf_url": None}] if arxiv_id else []
    return {
        "id": f"https://openalex.org/{wid}",
        "doi": f"https://doi.org/{doi}" if doi else None,
        "title": title,
        "display_name": title,
        "publication_year": year,
        "publication_date": f"{year}-12-11",
        "authorships": [{"author": {"id": "https://openalex.org/A1", "display_name": "Agrim Gupta"}}],
        "abstract_inverted_index": inverted if abstract else None,
        "primary_location": locations[0] if locations else {"landing_page_url": f"https://doi.org/{doi}" if doi else None},
        "locations": locations,
    }


class FakeOpenAlex(_Server):
    """GET /works -> {"results": works} like the OpenAlex API."""

    def __init__(self, works: list[dict]):
        self.works = works
        super().__init__(lambda owner: _handler(owner, FakeOpenAlex._respond))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @staticmethod
    def _respond(owner, path, params):
        if path != "/works":
            return 404, "application/json", json.dumps({"error": "not found"}), {}
        n = int(params.get("per-page", 25))
        return 200, "application/json", json.dumps({"meta": {"count": len(owner.works)}, "results": owner.works[:n]}), {}
