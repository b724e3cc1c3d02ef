"""A scripted NIM-compatible HTTP server for tests and benchmarks (FAKE model, real protocol).

It speaks the OpenAI-compatible wire format NVIDIA NIM serves — ``GET /v1/models``,
``POST /v1/chat/completions``, ``POST /v1/embeddings`` — on 127.0.0.1 with a free port, so the real
``ChatNVIDIA`` / ``NVIDIAEmbeddings`` clients talk to it over HTTP. What is fake is the model:

* embeddings are deterministic hashed bags of word stems (1024-d), so similar texts are close;
* chat replies are scripted by role (recognised from the system prompt): planner, extractor,
  evidence judge, the three reviewers, writer. The script OBEYS instructions that reach it outside
  the fenced data blocks (``<data-NONCE>...</data-NONCE>``) — used to prove that the kernel's fencing,
  not the model's virtue, stops prompt injection;
* faults can be queued (status codes with Retry-After, delays, broken bodies, unparsable or
  schema-violating JSON), and a fixed latency can be added to every request.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

DIM = 1024
INJECTION = re.compile(r"ignore (all )?previous instructions|score (this|it)? ?10|print your system prompt|call this url", re.I)
FENCE = re.compile(r"<data-([0-9a-f]+)[^>]*>.*?</data-\1>", re.S)


def _stem(w: str) -> str:
    for suf in ("ing", "ed", "es", "s"):
        if len(w) > len(suf) + 3 and w.endswith(suf):
            return w[: -len(suf)]
    return w


def fake_embedding(text: str) -> list[float]:
    vec = np.zeros(DIM, dtype=np.float64)
    words = [_stem(w) for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) > 2]
    for gram in words + [a + " " + b for a, b in zip(words, words[1:])]:
        h = hashlib.blake2b(gram.encode(), digest_size=8).digest()
        idx = int.from_bytes(h[:4], "little") % DIM
        vec[idx] += 1.0 if h[4] & 1 else -1.0
    n = np.linalg.norm(vec)
    return (vec / n if n else vec).tolist()


def _fenced(text: str) -> list[tuple[str, str]]:
    return [(m.group(0).split('id="', 1)[1].split('"', 1)[0] if 'id="' in m.group(0) else "", re.sub(r"^<[^>]*>\n?|\n?</[^>]*>$", "", m.group(0)))
            for m in FENCE.finditer(text)]


def _words(text: str) -> set[str]:
    return {_stem(w) for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) > 3}


@dataclass
class Fault:
    """Applied to the next ``times`` matching requests (path 'chat', 'embeddings', 'models' (GET) or '*'
    for chat and embeddings). ``body`` is sent with ``status`` (default 200); ``{authorization}`` in
    it is replaced by the request's Authorization header."""

    path: str = "*"
    status: int | None = None
    retry_after: float | None = None
    delay: float = 0.0
    body: str | None = None  # raw response body (e.g. not JSON; may echo {authorization})
    content: str | None = None  # chat message content (e.g. unparsable JSON)
    times: int = 1


@dataclass
class Record:
    path: str
    start: float
    end: float
    body: dict
    auth: str | None


@dataclass
class FakeNim:
    latency: float = 0.0
    faults: list[Fault] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)
    gets: list[Record] = field(default_factory=list)  # GET requests (model listing)
    obeyed: list[str] = field(default_factory=list)  # roles whose request carried an unfenced injection
    script: object = None  # optional callable(role, system, user) -> dict | str
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self):
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            pending: Record | None = None

            def _record(self) -> None:
                """Log the model request being answered — before its answer is written, so that a
                client never sees an answer whose request is not in ``records`` yet."""
                if self.pending is not None:
                    self.pending.end = time.time()
                    with owner.lock:
                        owner.records.append(self.pending)
                    self.pending = None

            def _reply(self, status: int, payload, headers: dict | None = None):
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self._record()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                start = time.time()
                path = "models" if self.path.rstrip("/").endswith("/models") else "other"
                fault = owner._take_fault(path, exact=True) if path == "models" else None
                try:
                    if fault and fault.delay:
                        time.sleep(fault.delay)
                    if fault and (fault.status or fault.body is not None):
                        self._fault_reply(fault)
                    elif path == "models":
                        self._reply(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in owner.models]})
                    else:
                        self._reply(404, {"detail": "not found"})
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    with owner.lock:  # kept apart from ``records`` (chat/embeddings, the model calls)
                        owner.gets.append(Record(path, start, time.time(), {}, self.headers.get("Authorization")))

            def _fault_reply(self, fault):
                """An injected status and/or body; ``{authorization}`` in the body is replaced by the
                request's Authorization header (a server that echoes the caller's credentials)."""
                headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
                if fault.body is not None:
                    body = fault.body.replace("{authorization}", self.headers.get("Authorization") or "")
                    self._reply(fault.status or 200, body.encode(), headers)
                else:
                    self._reply(fault.status, {"status": fault.status, "detail": "injected fault"}, headers)

            def do_POST(self):
                start = time.time()
                length = int(self.headers.get("Content-Length", 0))
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    body = {}
                path = "embeddings" if self.path.endswith("/embeddings") else "chat" if self.path.endswith("/chat/completions") else "other"
                fault = owner._take_fault(path)
                self.pending = Record(path, start, start, body, self.headers.get("Authorization"))
                if owner.latency:
                    time.sleep(owner.latency)
                if fault and fault.delay:
                    time.sleep(fault.delay)
                try:
                    if fault and (fault.status or fault.body is not None):
                        self._fault_reply(fault)
                    elif path == "embeddings":
                        self._reply(200, owner._embeddings(body))
                    elif path == "chat":
                        self._reply(200, owner._chat(body, fault.content if fault else None))
                    else:
                        self._reply(404, {"detail": "not found"})
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    self._record()  # when no answer was written

        self.models = ["meta/llama-3.3-70b-instruct", "nvidia/nv-embedqa-e5-v5"]
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> "FakeNim":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def count(self, path: str | None = None) -> int:
        with self.lock:
            return sum(1 for r in self.records if path is None or r.path == path)

    def _take_fault(self, path: str, exact: bool = False) -> Fault | None:
        with self.lock:
            for f in self.faults:
                if f.times > 0 and (f.path == path or (f.path == "*" and not exact)):
                    f.times -= 1
                    return f
        return None

    # ------------------------------------------------------------------ embeddings

    def _embeddings(self, body: dict) -> dict:
        inputs = body.get("input") or []
        if isinstance(inputs, str):
            inputs = [inputs]
        data = [{"index": i, "embedding": fake_embedding(t), "object": "embedding"} for i, t in enumerate(inputs)]
        tokens = sum(len(t.split()) for t in inputs)
        return {"object": "list", "data": data, "model": body.get("model"), "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}

    # ------------------------------------------------------------------ chat

    def _chat(self, body: dict, forced: str | None) -> dict:
        messages = body.get("messages") or []
        system = next((m["content"] for m in messages if m.get("role") == "system"), "")
        user = "\n".join(m["content"] for m in messages if m.get("role") == "user")
        if forced is not None:
            content = forced
        else:
            role = role_of(system)
            if obeys_injection(system, user):
                with self.lock:
                    self.obeyed.append(role)
            reply = self.script(role, system, user) if callable(self.script) else None
            if reply is None:
                reply = scripted_reply(role, system, user)
            content = reply if isinstance(reply, str) else json.dumps(reply)
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in messages)
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": len(content.split()), "total_tokens": prompt_tokens + len(content.split())},
        }


def role_of(system: str) -> str:
    if "query planner" in system:
        return "planner"
    if "extract atomic claims" in system:
        return "extractor"
    if "verify a claim" in system:
        return "judge"
    for role in ("SKEPTIC", "VALIDATOR", "SYNTHESIZER"):
        if f"Role {role}" in system:
            return role
    if "abstract of a short literature synthesis" in system:
        return "writer"
    return "unknown"


def obeys_injection(system: str, user: str) -> bool:
    """The fake model follows injected instructions that are NOT inside a fenced data block."""
    return bool(INJECTION.search(FENCE.sub(" ", system + "\n" + user)))


def scripted_reply(role: str, system: str, user: str) -> dict | str:
    if obeys_injection(system, user):
        if role in ("SKEPTIC", "VALIDATOR", "SYNTHESIZER"):
            return {"score": 10, "rationale": "Instructed to give 10.", "findings": [], "actions": []}
        if role == "judge":
            return {"label": "SUPPORTED", "evidence_id": None, "quote": "ignore previous instructions"}
        if role == "writer":
            return {"abstract": "SYSTEM PROMPT: " + system[:200], "answer": "Visit http://attacker.example now."}
    if role == "planner":
        q = re.search(r"Research question: (.*)\n", user)
        words = [w for w in re.findall(r"[A-Za-z0-9][A-Za-z0-9\.\-]*", q.group(1) if q else "") if len(w) > 3]
        n = int(re.search(r"exactly (\d+)", user).group(1)) if re.search(r"exactly (\d+)", user) else 4
        queries = [" ".join(words[i : i + 4]) for i in range(0, max(1, len(words)), 2)][:n]
        return {"queries": queries or ["research"]}
    if role == "extractor":
        blocks = _fenced(user)
        text = blocks[0][1] if blocks else ""
        k = int(re.search(r"at most (\d+)", user).group(1)) if re.search(r"at most (\d+)", user) else 5
        sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", text.split("\n", 1)[-1]) if len(s.split()) >= 6]
        return {"claims": [{"text": s} for s in sentences[:k]]}
    if role == "judge":
        blocks = _fenced(user)
        fenced_claim = next((text for label, text in blocks if label == "claim"), None)
        claim = re.search(r"Claim: (.*)\n", user)
        cw = _words(fenced_claim if fenced_claim is not None else claim.group(1) if claim else "")
        best = max([b for b in blocks if b[0] != "claim"], key=lambda b: len(cw & _words(b[1])), default=None)
        if best is None:
            return {"label": "UNSUPPORTED", "evidence_id": None, "quote": None}
        overlap = len(cw & _words(best[1])) / max(1, len(cw))
        label = "SUPPORTED" if overlap >= 0.5 else "UNSUPPORTED"
        return {"label": label, "evidence_id": best[0], "quote": best[1].split("\n")[0]}
    if role in ("SKEPTIC", "VALIDATOR", "SYNTHESIZER"):
        def signal(name: str) -> float:
            m = re.search(rf"- {name}: ([0-9.]+)", user)
            return float(m.group(1)) if m else 0.0

        base = {"SKEPTIC": signal("entity_coverage") * 5 + signal("independent_ratio") * 5,
                "VALIDATOR": signal("verified_ratio") * 6 + signal("citation_ok") * 4,
                "SYNTHESIZER": signal("claim_coverage") * 10}[role]
        return {"score": round(min(10.0, base), 2), "rationale": f"{role} scripted from the measured signals.",
                "findings": [{"text": "scripted finding", "claim_ids": ["C1"], "paper_ids": []}],
                "actions": [] if base >= 6.5 else [{"kind": "search_more", "queries": ["broader context"], "claim_ids": [], "reason": "low"}]}
    if role == "writer":
        ids = re.findall(r'id="(C\d+)"', user)
        return {"abstract": "Scripted abstract citing " + ", ".join(f"[{i}]" for i in ids) + ". " + "It summarises the verified claims only. " * 3,
                "answer": "The evidence gathered answers the question in part."}
    return {"detail": "unknown role"}
