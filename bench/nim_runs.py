"""Benchmarks of ``--provider nim`` runs against the NIM-compatible loopback server of the test
suite (``tests/fakes/nim_server.py``: real HTTP and wire format, scripted model, a fixed latency
L added to every request).

``python -m bench.nim_runs critical-path --latency 0.3``
    Full runs (sources: local), each with a fresh cache folder, in one process whose imports and
    local index are ready: the first run pays the lazy imports and tables of the kernel
    (``cold_process``), the next ``--repeat`` runs are warm (``warm_runs``: same question, another
    fresh cache folder each, so every request is made again). Reports wall time, requests, tokens, the request timeline (idle gaps
    between waves = CPU on the critical path) and the critical-path lower bound (below). With
    ``--cli-latency L`` (repeatable), also the same run as a user starts it,
    ``sovereign research --provider nim`` in new processes against a fake NIM with latency L
    (interpreter start and imports on the clock; the local index prebuilt, as ``make install``
    does; ``--cli-repeat`` runs each).

``python -m bench.nim_runs api --latency 0.3``
    The run through the graph API: a real ``langgraph dev`` server configured for the fake NIM,
    runs made with langgraph-sdk (``runs.wait``) and timed at the client; ``cache: false`` in the
    run's context, so each run requests every embedding.

``python -m bench.nim_runs cache``
    The same run twice with the same cache folder, sources local + arXiv + OpenAlex (loopback
    servers speaking their APIs, from ``tests/fakes/sources.py``): counts embedding and search
    requests of the second run (target: none).

The lower bound. Every request is placed on the chain of requests it depends on *as the graph
defines the work* (not as the code happens to schedule it), per round of the graph:

    stage 0  planner chat; the question's embedding (it depends on nothing)
    stage 1  embeddings of the retrieved papers AND of their evidence passages (both need only
             the merged paper set)
    stage 2  extractor chats (need the ranking, i.e. stage 1)
    stage 3  embeddings of the claims (need the claims)
    stage 4  judge chats (need the claims' evidence candidates, stages 1 and 3)
    stage 5  the three reviewers (need the verifications)
    ... a revision round repeats stages 1-5 (its queries come from the reviews) ...
    last     the writer chat (needs the final reviews)

A stage with m requests costs ceil(m / max_concurrency) x L, a JSON-repair request one more L;
stages with no request (e.g. embeddings already cached) cost nothing. The bound is the sum, i.e.
the wall time of a perfect scheduler with free CPU. The issue's target: wall <= 1.15 x bound.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
QUESTION = (
    "How does the causal encoder design in W.A.L.T influence the trade-off between FVD scores and "
    "inference throughput in photorealistic video generation?"
)
STAGES = ("planner/question", "papers+passages embeddings", "extractor", "claims embeddings", "judges", "reviewers")
TARGET_RATIO = 1.15


def _fakes():
    sys.path.insert(0, str(REPO / "tests"))
    from fakes import nim_server, sources

    return nim_server, sources


class RemoteNim:
    """The fake NIM server in a process of its own, so its work (hashing texts into vectors, JSON
    of 1024 floats per text) does not compete with the kernel for the GIL and the wall time is the
    kernel's. Records come back over a line protocol on stdin/stdout."""

    def __init__(self, latency: float):
        import subprocess

        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.nim_runs", "serve", "--latency", str(latency)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO,
        )
        self.url = json.loads(self.proc.stdout.readline())["url"]

    def _ask(self, command: str):
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def clear(self) -> None:
        self._ask("clear")

    def records(self) -> list:
        from types import SimpleNamespace

        return [SimpleNamespace(**r) for r in self._ask("records")]

    def __enter__(self) -> "RemoteNim":
        return self

    def __exit__(self, *exc) -> None:
        try:
            self._ask("quit")
        except (OSError, ValueError):
            pass
        self.proc.wait(timeout=10)


def serve(latency: float) -> None:
    nim_server, _ = _fakes()
    with nim_server.FakeNim(latency=latency) as nim:
        print(json.dumps({"url": nim.url}), flush=True)
        for line in sys.stdin:
            command = line.strip()
            if command == "records":
                with nim.lock:
                    rows = [{"path": r.path, "start": r.start, "end": r.end, "body": r.body} for r in nim.records]
                print(json.dumps(rows), flush=True)
            elif command == "clear":
                with nim.lock:
                    nim.records.clear()
                print("{}", flush=True)
            else:
                print("{}", flush=True)
                break


def classify(record, question: str, role_of) -> tuple[str, bool]:
    """(kind, is_repair) of one recorded request."""
    body = record.body or {}
    if record.path == "embeddings":
        inputs = body.get("input") or []
        inputs = [inputs] if isinstance(inputs, str) else inputs
        if body.get("input_type") == "query":
            return ("embed_question" if inputs == [question] else "embed_claims"), False
        return "embed_passages", False
    if record.path == "chat":
        messages = body.get("messages") or []
        system = next((m.get("content", "") for m in messages if m.get("role") == "system"), "")
        role = role_of(system)
        repair = any(m.get("role") == "assistant" for m in messages)
        if role in ("SKEPTIC", "VALIDATOR", "SYNTHESIZER"):
            role = "review"
        return role, repair
    return "other", False


STAGE_OF = {"planner": 0, "embed_question": 0, "embed_passages": 1, "extractor": 2, "embed_claims": 3, "judge": 4, "review": 5}


def critical_path(records, question: str, latency: float, max_concurrency: int, role_of) -> dict:
    """The lower bound (see the module docstring) and the observed waves of one run."""
    ordered = sorted(records, key=lambda r: r.start)
    rnd, in_review = 0, False
    stages: dict[tuple, dict] = {}
    timeline = []
    for r in ordered:
        kind, repair = classify(r, question, role_of)
        if kind == "review":
            in_review = True
        elif in_review:
            rnd, in_review = rnd + 1, False
        if kind == "writer":
            key = (99, 0, "writer")
        elif kind in STAGE_OF:
            key = (rnd if kind not in ("planner", "embed_question") else 0, STAGE_OF[kind] if kind != "embed_question" or rnd == 0 else 1, "")
        else:
            key = (rnd, 9, kind)  # unknown: its own stage, conservatively
        st = stages.setdefault(key, {"requests": 0, "repairs": 0, "kinds": {}})
        st["requests"] += 1
        st["repairs"] += int(repair)
        st["kinds"][kind] = st["kinds"].get(kind, 0) + 1
        timeline.append({"kind": kind, "round": rnd, "start": r.start, "end": r.end, "repair": repair})
    bound_waves = 0
    stage_list = []
    for key in sorted(stages):
        st = stages[key]
        waves = math.ceil((st["requests"] - st["repairs"]) / max_concurrency) + (1 if st["repairs"] else 0)
        bound_waves += waves
        name = "writer" if key[2] == "writer" else (STAGES[key[1]] if key[1] < len(STAGES) else key[2])
        stage_list.append({"round": key[0] if key[0] != 99 else None, "stage": name, "requests": st["requests"], "waves": waves, "kinds": st["kinds"]})
    # observed waves: maximal groups of overlapping requests, in time order
    observed = []
    for item in sorted(timeline, key=lambda x: x["start"]):
        if observed and item["start"] < observed[-1]["end"]:
            observed[-1]["end"] = max(observed[-1]["end"], item["end"])
            observed[-1]["kinds"][item["kind"]] = observed[-1]["kinds"].get(item["kind"], 0) + 1
        else:
            observed.append({"start": item["start"], "end": item["end"], "kinds": {item["kind"]: 1}})
    return {"bound_waves": bound_waves, "bound_seconds": round(bound_waves * latency, 3), "stages": stage_list, "observed_waves": observed}


def _usage():
    from sovereign.adapters.nim import USAGE

    return USAGE.snapshot()


def one_run(nim, question: str, cache_dir: Path, latency: float, **config) -> dict:
    """One research run against the fake NIM; the process' usage counters and the server's records."""
    from sovereign import run_research
    from sovereign.graph.configuration import Configuration

    nim_server, _ = _fakes()
    os.environ["SOVEREIGN_CACHE_DIR"] = str(cache_dir)
    nim.clear()
    before = _usage()
    t0_wall, t0 = time.time(), time.perf_counter()
    report = run_research(question, provider="nim", **config)
    wall = time.perf_counter() - t0
    after = _usage()
    records = nim.records()
    usage = {k: after[k] - before[k] for k in after}
    cfg = Configuration(provider="nim", **config)
    cp = critical_path(records, question, latency, cfg.max_concurrency, nim_server.role_of)
    # request timeline relative to the run's start; idle gaps between observed waves = CPU on the path
    waves = []
    prev_end = t0_wall
    for w in cp.pop("observed_waves"):
        waves.append({"gap_before_s": round(w["start"] - prev_end, 3), "duration_s": round(w["end"] - w["start"], 3), "kinds": w["kinds"]})
        prev_end = w["end"]
    embed_words = sum(
        sum(len(t.split()) for t in (r.body.get("input") if isinstance(r.body.get("input"), list) else [r.body.get("input") or ""]))
        for r in records if r.path == "embeddings"
    )
    rounds = getattr(report, "rounds", None) or getattr(report.tribunal, "rounds", None) or []
    return {
        "wall_seconds": round(wall, 3),
        "tail_after_last_request_s": round(time.time() - prev_end, 3),
        "requests": len(records),
        "requests_by_kind": {k: sum(1 for r in records if classify(r, question, nim_server.role_of)[0] == k) for k in sorted({classify(r, question, nim_server.role_of)[0] for r in records})},
        "chat_requests": usage.get("chat_requests"),
        "embed_requests": usage.get("embed_requests"),
        "chat_prompt_tokens": usage.get("prompt_tokens"),
        "chat_completion_tokens": usage.get("completion_tokens"),
        "tokens": (usage.get("prompt_tokens") or 0) + (usage.get("completion_tokens") or 0),
        "embedding_input_words": embed_words,
        "failures": usage.get("failures"),
        "rounds": len(rounds) if isinstance(rounds, list) else rounds,
        "policy": getattr(report, "policy", None),
        **cp,
        "ratio": round(wall / cp["bound_seconds"], 3) if cp["bound_seconds"] else None,
        "observed_waves": len(waves),
        "waves": waves,
    }


def cli_runs(question: str, scratch: Path, latency: float, repeat: int) -> dict:
    """The run as a user starts it: ``sovereign research ... --provider nim`` in a new process, so
    interpreter start and imports are on the clock. The local index is built beforehand
    (``sovereign index``, as ``make install`` does for the bundled corpus); each run starts with an
    empty embeddings cache, so every request is made again. Own fake NIM (in its own process) at
    ``latency``."""
    import statistics
    import subprocess

    nim_server, _ = _fakes()
    exe = str(Path(sys.executable).with_name("sovereign"))
    cache_dir = scratch / f"cli-cache-{latency:g}"
    env = {k: v for k, v in os.environ.items() if k not in ("NVIDIA_API_KEY", "NVIDIA_BASE_URL")}
    env["SOVEREIGN_CACHE_DIR"] = str(cache_dir)
    subprocess.run([exe, "index", "--quiet"], env=env, check=True, timeout=300)
    runs = []
    with RemoteNim(latency) as nim:
        env["NVIDIA_BASE_URL"] = nim.url
        for i in range(repeat):
            for leftover in cache_dir.glob("cache.sqlite3*"):
                leftover.unlink()
            nim.clear()
            t0_wall, t0 = time.time(), time.perf_counter()
            proc = subprocess.run([exe, "research", question, "--provider", "nim", "--sources", "local", "--out", str(scratch / f"cli-out-{i}"), "--quiet"],
                                  env=env, capture_output=True, text=True, timeout=300)
            wall = time.perf_counter() - t0
            records = nim.records()
            cp = critical_path(records, question, latency, 8, nim_server.role_of)
            waves, prev_end = [], t0_wall
            for w in cp.pop("observed_waves"):
                waves.append({"gap_before_s": round(w["start"] - prev_end, 3), "duration_s": round(w["end"] - w["start"], 3), "kinds": w["kinds"]})
                prev_end = w["end"]
            runs.append({
                "exit_code": proc.returncode, "wall_seconds": round(wall, 3), "requests": len(records), "bound_seconds": cp["bound_seconds"],
                "ratio": round(wall / cp["bound_seconds"], 3) if cp["bound_seconds"] else None,
                "first_request_after_s": round(min(r.start for r in records) - t0_wall, 3) if records else None,
                "tail_after_last_request_s": round(t0_wall + wall - prev_end, 3),
                "waves": waves, "stderr_tail": proc.stderr.strip()[-300:],
            })
    ratios = [r["ratio"] for r in runs if r["ratio"]]
    return {"latency_s": latency, "runs": runs, "median_ratio": statistics.median(ratios) if ratios else None,
            "median_wall_seconds": statistics.median(r["wall_seconds"] for r in runs), "median_bound_seconds": statistics.median(r["bound_seconds"] for r in runs)}


def api_runs(question: str, scratch: Path, latency: float, repeat: int) -> dict:
    """The run through the deployed surface: a real ``langgraph dev`` server (graph API) started
    with ``NVIDIA_BASE_URL`` pointing at a fake NIM with latency L; each run is one
    ``runs.wait`` call of langgraph-sdk (a thread-less run), timed at the client. The first run
    pays the server's lazy loading of the graph; the next ``repeat`` runs are warm. Each run passes
    ``cache: false`` in its context, so every embedding is requested again."""
    import asyncio
    import json as _json
    import socket
    import statistics
    import subprocess
    import urllib.request

    import langgraph_sdk

    nim_server, _ = _fakes()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    workdir = scratch / f"api-{latency:g}"
    workdir.mkdir(parents=True, exist_ok=True)
    cfg = _json.loads((REPO / "langgraph.json").read_text())
    cfg["dependencies"] = [str(REPO)]
    cfg["graphs"] = {name: str(REPO / spec.lstrip("./").split(":")[0]) + ":" + spec.split(":")[1] for name, spec in cfg["graphs"].items()}
    (workdir / "langgraph.json").write_text(_json.dumps(cfg))
    runs = []
    with RemoteNim(latency) as nim:
        env = {k: v for k, v in os.environ.items() if k not in ("NVIDIA_API_KEY",)}
        env.update(NVIDIA_BASE_URL=nim.url, SOVEREIGN_CACHE_DIR=str(workdir / "cache"), LANGGRAPH_CLI_NO_ANALYTICS="1",
                   LANGGRAPH_NO_VERSION_CHECK="true", LANGSMITH_TRACING="false")
        exe = str(Path(sys.executable).with_name("langgraph"))
        log = open(workdir / "server.log", "wb")
        proc = subprocess.Popen([exe, "dev", "--no-browser", "--no-reload", "--host", "127.0.0.1", "--port", str(port), "--config", str(workdir / "langgraph.json")],
                                cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/ok", timeout=2) as resp:
                        if resp.status == 200:
                            break
                except OSError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("langgraph dev did not start: " + (workdir / "server.log").read_text(errors="replace")[-2000:])
                time.sleep(0.25)

            async def one() -> float:
                client = langgraph_sdk.get_client(url=url)
                t0 = time.perf_counter()
                out = await client.runs.wait(None, "research", input={"question": question},
                                             context={"provider": "nim", "sources": ["local"], "cache": False})
                wall = time.perf_counter() - t0
                if not (isinstance(out, dict) and out.get("report")):
                    raise RuntimeError(f"the run returned no report: {str(out)[:300]}")
                return wall

            for i in range(repeat + 1):
                nim.clear()
                t0_wall = time.time()
                wall = asyncio.run(one())
                records = nim.records()
                cp = critical_path(records, question, latency, 8, nim_server.role_of)
                cp.pop("observed_waves")
                runs.append({"first": i == 0, "wall_seconds": round(wall, 3), "requests": len(records), "bound_seconds": cp["bound_seconds"],
                             "ratio": round(wall / cp["bound_seconds"], 3) if cp["bound_seconds"] else None,
                             "first_request_after_s": round(min(r.start for r in records) - t0_wall, 3) if records else None,
                             "requests_by_kind": {k: sum(1 for r in records if classify(r, question, nim_server.role_of)[0] == k)
                                                  for k in sorted({classify(r, question, nim_server.role_of)[0] for r in records})},
                             "stages": cp["stages"]})
        finally:
            import signal

            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(proc.pid, signal.SIGKILL)
            log.close()
    for r in runs:  # the server's own delay before the run starts (langgraph dev's queue) left out
        if r["first_request_after_s"] is not None and r["bound_seconds"]:
            r["ratio_from_first_request"] = round((r["wall_seconds"] - r["first_request_after_s"]) / r["bound_seconds"], 3)
    warm = [r for r in runs if not r["first"]]
    return {"latency_s": latency, "runs": runs, "median_ratio_warm": statistics.median(r["ratio"] for r in warm),
            "median_ratio_from_first_request_warm": statistics.median(r["ratio_from_first_request"] for r in warm),
            "median_first_request_after_s_warm": statistics.median(r["first_request_after_s"] for r in warm),
            "median_wall_seconds_warm": statistics.median(r["wall_seconds"] for r in warm),
            "median_bound_seconds_warm": statistics.median(r["bound_seconds"] for r in warm)}


def _prepare(corpus_path: str | None) -> float:
    """Import the kernel and build (or load) the local index before anything is timed."""
    t0 = time.perf_counter()
    import sovereign.adapters.nim  # noqa: F401  (langchain-nvidia import)
    import sovereign.graph.builder  # noqa: F401
    from sovereign.adapters.corpus import load_corpus
    from sovereign.adapters.local_source import searcher_for

    searcher_for(load_corpus(corpus_path), 256)
    return time.perf_counter() - t0


def critical_path_main(args) -> dict:
    for var in ("NVIDIA_API_KEY", "NVIDIA_BASE_URL"):
        os.environ.pop(var, None)
    scratch = Path(tempfile.mkdtemp(prefix="critical-path-", dir=args.work))
    os.environ["SOVEREIGN_CACHE_DIR"] = str(scratch / "local-index")
    with RemoteNim(args.latency) as nim:
        # a process configured for NIM from its start, as a CLI run or a server is: the kernel
        # is imported (and loads its NIM client) with NVIDIA_BASE_URL already set
        os.environ["NVIDIA_BASE_URL"] = nim.url
        prepare = _prepare(None)
        out: dict = {"latency_s": args.latency, "question": QUESTION, "prepare_seconds": round(prepare, 3)}
        out["cold_process"] = one_run(nim, QUESTION, scratch / "run-cold", args.latency, sources=["local"])
        out["warm_runs"] = [
            one_run(nim, QUESTION, scratch / f"run-warm-{i}", args.latency, sources=["local"]) for i in range(args.repeat)
        ]
    for latency in args.cli_latency or []:
        out.setdefault("cli_new_process", []).append(cli_runs(QUESTION, scratch, latency, args.cli_repeat))
    shutil.rmtree(scratch, ignore_errors=True)
    return out


def _fake_sources(sources):
    from sovereign.adapters.corpus import load_corpus

    papers = [p for p in load_corpus().papers if p.arxiv_id][:12]
    entries = [
        {"id": p.arxiv_id, "title": p.title, "summary": p.abstract, "authors": p.authors[:3] or ["Unknown"],
         "published": f"{p.published or '2023-01'}-01T00:00:00Z"[:20]}
        for p in papers
    ]
    works = [sources.openalex_work(p.title, p.abstract, arxiv_id=p.arxiv_id, wid=f"W{i + 1000}", year=p.year or 2023) for i, p in enumerate(papers)]
    return sources.FakeArxiv(entries), sources.FakeOpenAlex(works)


def cache_main(args) -> dict:
    _, sources = _fakes()
    for var in ("NVIDIA_API_KEY", "NVIDIA_BASE_URL"):
        os.environ.pop(var, None)
    scratch = Path(tempfile.mkdtemp(prefix="cache-", dir=args.work))
    cache = scratch / "cache"
    os.environ["SOVEREIGN_CACHE_DIR"] = str(cache)
    _prepare(None)
    arxiv, openalex = _fake_sources(sources)
    runs = []
    with RemoteNim(args.latency) as nim, arxiv, openalex:
        os.environ["NVIDIA_BASE_URL"] = nim.url
        config = {
            "sources": ["local", "arxiv", "openalex"], "arxiv_url": arxiv.url, "openalex_url": openalex.url,
            "arxiv_delay_seconds": 0.0,
        }
        for _ in range(2):
            n_arxiv, n_openalex = len(arxiv.records), len(openalex.records)
            run = one_run(nim, QUESTION, cache, args.latency, **config)
            run = {k: run[k] for k in ("wall_seconds", "requests", "requests_by_kind", "chat_requests", "embed_requests", "tokens", "rounds")}
            run["search_requests"] = {"arxiv": len(arxiv.records) - n_arxiv, "openalex": len(openalex.records) - n_openalex}
            runs.append(run)
    shutil.rmtree(scratch, ignore_errors=True)
    return {"latency_s": args.latency, "question": QUESTION, "first_run": runs[0], "second_run": runs[1]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.nim_runs")
    parser.add_argument("which", choices=["critical-path", "cache", "api", "serve"])
    parser.add_argument("--latency", type=float, default=0.3)
    parser.add_argument("--repeat", type=int, default=3, help="warm runs after the first (critical-path)")
    parser.add_argument("--cli-latency", type=float, action="append", metavar="L",
                        help="also time `sovereign research --provider nim` in new processes against a fake NIM with latency L (repeatable)")
    parser.add_argument("--cli-repeat", type=int, default=3, help="new-process runs per --cli-latency")
    parser.add_argument("--work", default=None, help="scratch folder (default: a temporary folder)")
    args = parser.parse_args(argv)
    if args.which == "serve":
        serve(args.latency)
        return 0
    if args.work:
        Path(args.work).mkdir(parents=True, exist_ok=True)
    if args.which == "api":
        scratch = Path(tempfile.mkdtemp(prefix="api-", dir=args.work))
        try:
            result = api_runs(QUESTION, scratch, args.latency, args.repeat)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    else:
        result = critical_path_main(args) if args.which == "critical-path" else cache_main(args)
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
