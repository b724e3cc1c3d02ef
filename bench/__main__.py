"""``python -m bench`` (``make bench``): runs every benchmark in a process of its own, writes
``bench/results/<name>.json`` (machine info, package versions, the command, the numbers, the
targets and pass/fail), ``bench/results/SUMMARY.md`` and prints a short table.

    python -m bench                               # all of them (~5 min on 2 cores)
    python -m bench --only critical-path,cache    # a subset
    python -m bench --sizes 1000,10000            # smaller scale run
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time

from bench.common import RESULTS, check, load_average, print_table, python_child, run_child, verdict, work_dir, write_result

BENCHMARKS = ("critical-path", "cache", "offline-e2e", "scale")


def _mb(x: float | None) -> str:
    return "-" if x is None else f"{x:,.0f} MB"


def _s(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{x:.{digits}f} s"


def critical_path(args, rows: list) -> dict:
    """Two processes (two first-runs-in-a-process), each followed by 3 warm runs; medians."""
    import statistics

    from bench.nim_runs import TARGET_RATIO

    children = []
    for i in range(2):
        extra = [x for lat in (args.latency, 1.0) for x in ("--cli-latency", str(lat))] if i == 0 else []
        children.append(run_child(python_child("bench.nim_runs", "critical-path", "--latency", str(args.latency), "--work", str(work_dir()), *extra), timeout=600))
    api_child = run_child(python_child("bench.nim_runs", "api", "--latency", str(args.latency), "--repeat", "3", "--work", str(work_dir())), timeout=600)
    samples = [c.json_tail() for c in children]
    try:
        api = api_child.json_tail()
    except RuntimeError:  # the graph-API measurement is extra: its failure does not void the others
        api = {"error": (api_child.stderr.strip().splitlines() or ["no output"])[-1][:300]}
    cold = [s["cold_process"] for s in samples]
    warm = [w for s in samples for w in s["warm_runs"]]
    summary = {}
    passed = {}
    for key, runs, label in (("first_run_in_process", cold, "first run in process"), ("warm_process", warm, "warm process")):
        ratio = statistics.median(r["ratio"] for r in runs)
        wall = statistics.median(r["wall_seconds"] for r in runs)
        bound = statistics.median(r["bound_seconds"] for r in runs)
        summary[key] = {"runs": len(runs), "median_wall_seconds": wall, "median_bound_seconds": bound, "median_ratio": ratio,
                        "ratios": [r["ratio"] for r in runs]}
        ok = check(ratio, TARGET_RATIO)
        passed[key] = ok
        rows.append(("critical-path", f"wall / bound, {label} (median of {len(runs)})", f"{wall:.2f} s / {bound:.2f} s = {ratio:.3f}", f"<= {TARGET_RATIO}", verdict(ok)))
    first = cold[0]
    rows.append(("critical-path", "requests / tokens per run", f"{first['requests']} ({first['chat_requests']} chat, {first['embed_requests']} embed) / {first['tokens']:,} chat tokens", "", ""))
    rows.append(("critical-path", "waves observed / bound", f"{first['observed_waves']} / {first['bound_waves']} x L={args.latency:g} s ({first['rounds']} rounds)", "", ""))
    for cli in samples[0].get("cli_new_process") or []:
        ok = check(cli["median_ratio"], TARGET_RATIO)
        passed[f"cli_new_process_L{cli['latency_s']:g}"] = ok
        rows.append((
            "critical-path", f"`sovereign research --provider nim`, new process, L={cli['latency_s']:g} s (median of {len(cli['runs'])})",
            f"{cli['median_wall_seconds']:.2f} s / {cli['median_bound_seconds']:.2f} s = {cli['median_ratio']:.3f}", f"<= {TARGET_RATIO}", verdict(ok),
        ))
    if "error" in api:
        rows.append(("critical-path", "graph API (`langgraph dev`, langgraph-sdk runs.wait)", f"failed: {api['error']}", "info", ""))
    else:
        rows.append((
            "critical-path", f"graph API (`langgraph dev`, langgraph-sdk runs.wait), L={api['latency_s']:g} s, warm server (median of {len(api['runs']) - 1})",
            f"{api['median_wall_seconds_warm']:.2f} s / {api['median_bound_seconds_warm']:.2f} s = {api['median_ratio_warm']:.3f}; "
            f"{api['median_ratio_from_first_request_warm']:.3f} from the run's first request (the dev server starts a run "
            f"{api['median_first_request_after_s_warm']:.2f} s after it is created)", "info", "",
        ))
    return {"summary": summary, "samples": samples, "api": api, "targets": {"wall_over_bound": TARGET_RATIO}, "passed": passed,
            "process": [{"wall_seconds": round(c.wall_seconds, 2), "peak_rss_mb": round(c.peak_rss_mb, 1)} for c in children]}


def cache(args, rows: list) -> dict:
    child = run_child(python_child("bench.nim_runs", "cache", "--latency", "0.05", "--work", str(work_dir())), timeout=600)
    data = child.json_tail()
    second = data["second_run"]
    embeds = second["embed_requests"]
    searches = sum(second["search_requests"].values())
    passed = {"no_embedding_requests": embeds == 0, "no_search_requests": searches == 0}
    first = data["first_run"]
    rows.append(("cache", "2nd run: embedding requests", f"{embeds} (1st run: {first['embed_requests']})", "0", verdict(passed["no_embedding_requests"])))
    rows.append(("cache", "2nd run: search requests", f"{searches} (1st run: {sum(first['search_requests'].values())})", "0", verdict(passed["no_search_requests"])))
    rows.append(("cache", "2nd run: chat requests", f"{second['chat_requests']} (not cached by design)", "info", ""))
    return {"result": data, "targets": {"second_run_embedding_requests": 0, "second_run_search_requests": 0}, "passed": passed,
            "process": {"wall_seconds": round(child.wall_seconds, 2), "peak_rss_mb": round(child.peak_rss_mb, 1)}}


def offline_e2e(args, rows: list) -> dict:
    from bench.offline_e2e import TARGET_HELP, TARGET_WALL

    child = run_child(python_child("bench.offline_e2e"), timeout=600)
    data = child.json_tail()
    passed = {}
    for variant, label in (("as_environment", ""), ("with_bytecode_cache", ", bytecode cached")):
        v = data[variant]
        for run, what in (("first_run", "1st run (index built)"), ("later_run", "later run (index loaded)")):
            r = v[run]
            ok = r["ok"] and check(r["wall_seconds"], TARGET_WALL)
            passed[f"{variant}.{run}"] = ok
            rows.append(("offline-e2e", f"{what}{label}", f"{_s(r['wall_seconds'])}, peak {_mb(r['peak_rss_mb'])}", f"<= {TARGET_WALL:g} s", verdict(ok)))
        ok = check(v["help"]["median_seconds"], TARGET_HELP)
        passed[f"{variant}.help"] = ok
        rows.append(("offline-e2e", f"sovereign --help{label}", _s(v["help"]["median_seconds"], 3), f"<= {TARGET_HELP:g} s", verdict(ok)))
    return {"result": data, "targets": {"wall_seconds": TARGET_WALL, "help_seconds": TARGET_HELP}, "passed": passed,
            "process": {"wall_seconds": round(child.wall_seconds, 2)}}


def scale(args, rows: list) -> dict:
    from bench.scale import TARGETS

    child = run_child(python_child("bench.scale", "--sizes", args.sizes), timeout=1800)
    data = child.json_tail()
    passed = {}
    for size in data["sizes"]:
        n, b, l = size["papers"], size["build"], size["load"]
        big = n >= 100_000
        rows.append(("scale", f"{n:,}: build / load index", f"{_s(b['index_seconds'])} / {_s(l['index_seconds'])} ({size['index_on_disk_mb']} MB on disk)", "", ""))
        rows.append(("scale", f"{n:,}: query median / p95", f"{l['query_ms_median']:.1f} / {l['query_ms_p95']:.1f} ms", "", ""))
        ok = check(l["verify_50_claims_seconds_first"], TARGETS["verify_50_claims_seconds"]) if big else None
        passed[f"{n}.verify_50_claims"] = ok
        rows.append(("scale", f"{n:,}: verify 50 claims (index built)", _s(l["verify_50_claims_seconds_first"]), "<= 2 s at 100k" if big else "", verdict(ok)))
        for phase in ("build", "load"):
            ok = check(size[phase]["peak_rss_mb"], TARGETS["peak_rss_mb"]) if big else None
            passed[f"{n}.{phase}.peak_rss"] = ok
            rows.append(("scale", f"{n:,}: peak RSS, {phase} process", _mb(size[phase]["peak_rss_mb"]), "<= 1.5 GB at 100k" if big else "", verdict(ok)))
        rows.append(("scale", f"{n:,}: corpus read (JSONL -> papers), first / later process", f"{_s(b['corpus_read_seconds'])} / {_s(l['corpus_read_seconds'])}", "info", ""))
    for g in data["build_growth"]:
        same_algorithm = g["svd"][0] == g["svd"][1]
        overall = g["from"] == data["sizes"][0]["papers"] and g["to"] == data["sizes"][-1]["papers"] and len(data["sizes"]) > 2
        judged = same_algorithm or overall
        ok = check(g["exponent"], TARGETS["build_growth_exponent"]) if judged else None
        passed[f"growth.{g['from']}-{g['to']}"] = ok
        why = "" if same_algorithm else f" ({g['svd'][0]} -> {g['svd'][1]} SVD)"
        per = f"{g['ms_per_paper'][0]:.2f} -> {g['ms_per_paper'][1]:.2f} ms/paper"
        rows.append(("scale", f"build time growth {g['from']:,} -> {g['to']:,}{why}", f"n^{g['exponent']} ({per})",
                     "<= n^1 (linear)" if judged else "info", verdict(ok)))
    return {"result": data, "targets": TARGETS, "passed": passed, "process": {"wall_seconds": round(child.wall_seconds, 2)}}


RUNNERS = {"critical-path": critical_path, "cache": cache, "offline-e2e": offline_e2e, "scale": scale}


def summary_markdown(rows: list, command: str, stamp: str) -> str:
    lines = [
        "# Benchmark summary (generated by `python -m bench`)",
        "",
        f"Latest run: {stamp}. Command: `{command}`. Per-benchmark JSON (machine, versions, raw numbers) next to this file.",
        "",
        "| benchmark | metric | value | target | |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines += [f"| {' | '.join(str(c).replace('|', '/') for c in r)} |" for r in rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(BENCHMARKS), help=f"comma-separated subset of: {', '.join(BENCHMARKS)}")
    parser.add_argument("--sizes", default="1000,10000,100000", help="corpus sizes of the scale benchmark")
    parser.add_argument("--latency", type=float, default=0.3, help="seconds the fake NIM adds to every request (critical path)")
    args = parser.parse_args(argv)
    chosen = [b.strip() for b in args.only.split(",") if b.strip()]
    unknown = [b for b in chosen if b not in RUNNERS]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    command = shlex.join([sys.executable, "-m", "bench", *(argv if argv is not None else sys.argv[1:])])
    rows: list = []
    failures = 0
    t0 = time.perf_counter()
    for name in chosen:
        print(f"[bench] {name} ...", flush=True)
        start = time.perf_counter()
        load_before = load_average()
        try:
            payload = RUNNERS[name](args, rows)
        except Exception as exc:  # one benchmark crashing must not hide the others
            failures += 1
            rows.append((name, "error", str(exc).splitlines()[0][:120] if str(exc) else exc.__class__.__name__, "", "ERROR"))
            print(f"[bench] {name} failed: {exc}", file=sys.stderr)
            continue
        payload["seconds"] = round(time.perf_counter() - start, 1)
        payload["load_average"] = {"before": load_before, "after": load_average()}
        path = write_result(name, payload, command)
        print(f"[bench] {name}: {payload['seconds']} s -> {path.relative_to(RESULTS.parents[1])}", flush=True)
    stamp = time.strftime("%Y-%m-%d %H:%M %Z")
    RESULTS.mkdir(parents=True, exist_ok=True)
    if set(chosen) == set(BENCHMARKS):
        (RESULTS / "SUMMARY.md").write_text(summary_markdown(rows, command, stamp), encoding="utf-8")
    busy = [load for load in (load_average() or [0.0])[:1] if load > 1.0]
    print()
    if busy:
        print(f"[bench] note: load average {busy[0]:.2f} — other work on this machine inflates wall times (see load_average in the JSON)")
    print_table(rows, f"Sovereign benchmarks ({time.perf_counter() - t0:.0f} s, {stamp})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
