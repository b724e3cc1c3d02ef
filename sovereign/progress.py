"""Progress display for long runs: one line per finished node (rich on a terminal, plain text
otherwise, nothing when disabled)."""

from __future__ import annotations

import sys
from typing import IO, Any


def describe(node: str, delta: dict[str, Any]) -> str | None:
    """One human line about a node's state update (pure)."""
    if node == "plan":
        return f"planned {len(delta.get('queries', []))} queries: " + "; ".join(delta.get("queries", []))
    if node == "search":
        hits = delta.get("hits", [])
        query = hits[0].query if hits else "?"
        errs = delta.get("source_errors", [])
        return f"search: {len(hits)} papers for {query!r}" + (f" ({len(errs)} source error(s))" if errs else "")
    if node == "index":
        papers = delta.get("papers", [])
        return f"indexed {len(papers)} unique papers; primary: {delta.get('primary_id')}"
    if node == "extract":
        return f"extracted {len(delta.get('claims', []))} claims"
    if node == "verify":
        vs = delta.get("verifications", [])
        return f"verified {sum(v.verified for v in vs)}/{len(vs)} claims"
    if node.startswith("review_"):
        r = (delta.get("reviews") or [None])[0]
        return f"{r.role} review (round {r.round}): {r.score:.1f}/10" if r else None
    if node == "synthesize":
        line = f"tribunal: {delta.get('score', 0):.1f}/10 -> {delta.get('verdict')}"
        return line + (f", policy {delta['policy']}" if delta.get("policy") else "")
    if node == "revise":
        return f"revision round {delta.get('revision_round')}: {len(delta.get('round_queries', []))} new queries"
    if node == "owner_review":
        return f"owner decision: {delta['owner'].decision}" if delta.get("owner") else None
    if node == "report":
        return "report rendered"
    return None


NEXT = {
    "plan": "searching",
    "search": "searching / indexing",
    "index": "extracting claims",
    "extract": "verifying claims",
    "verify": "tribunal reviewing",
    "synthesize": "deciding",
    "revise": "searching again (revision round)",
    "owner_review": "writing the report",
}


class Progress:
    """Live progress of a run: on a terminal a rich spinner with the current step and one coloured
    line per finished node; otherwise plain ``[node] ...`` lines; nothing when disabled."""

    def __init__(self, enabled: bool = True, stream: IO[str] | None = None):
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self._console = None
        self._status = None
        if enabled and self.stream.isatty():
            from rich.console import Console

            self._console = Console(file=self.stream, highlight=False)
            self._status = self._console.status("planning queries…", spinner="dots")
            self._status.start()

    def node_done(self, node: str, delta: dict[str, Any]) -> None:
        if not self.enabled:
            return
        line = describe(node, delta)
        if line is None:
            return
        if self._console is not None:
            self._console.print(f"[bold cyan]{node:>18}[/] {line}", markup=True)
            if self._status is not None:
                self._status.update(f"after {node}: {NEXT.get(node, 'working')}…")
        else:
            print(f"[{node}] {line}", file=self.stream, flush=True)

    def note(self, line: str) -> None:
        if not self.enabled:
            return
        if self._console is not None:
            self._console.print(f"[dim]{line}[/]")
        else:
            print(line, file=self.stream, flush=True)

    def close(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None
