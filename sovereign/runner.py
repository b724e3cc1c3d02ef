"""Durable runs for the CLI: a SQLite checkpointer per state folder, thread metadata, resume.

Every CLI run has a thread id. The graph runs with ``durability="sync"``: each finished step
(including each finished parallel branch) is on disk before the next starts, so after a crash
(even ``kill -9``) ``sovereign research --resume THREAD`` continues from the last completed step
without repeating the model or embedding calls of finished nodes.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sovereign.graph.configuration import Configuration

THREAD_ID_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


def state_dir(override: str | None = None) -> Path:
    if override:
        return Path(override)
    if os.environ.get("SOVEREIGN_STATE_DIR"):
        return Path(os.environ["SOVEREIGN_STATE_DIR"])
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "sovereign"


def new_thread_id() -> str:
    return "run-" + secrets.token_hex(6)


def check_thread_id(thread_id: str) -> str:
    if not thread_id or len(thread_id) > 64 or not set(thread_id) <= THREAD_ID_CHARS:
        raise ValueError("thread id must be 1-64 characters of letters, digits, '-' or '_'")
    return thread_id


@dataclass
class ThreadMeta:
    thread_id: str
    question: str
    config: dict[str, Any]

    def path(self, folder: Path) -> Path:
        return folder / "threads" / f"{self.thread_id}.json"

    def save(self, folder: Path) -> None:
        target = self.path(folder)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        tmp.write_text(json.dumps({"thread_id": self.thread_id, "question": self.question, "config": self.config}, indent=2))
        os.replace(tmp, target)

    @classmethod
    def load(cls, folder: Path, thread_id: str) -> "ThreadMeta":
        path = folder / "threads" / f"{check_thread_id(thread_id)}.json"
        if not path.is_file():
            raise ValueError(f"unknown thread {thread_id!r} in {folder}")
        data = json.loads(path.read_text())
        return cls(data["thread_id"], data["question"], data["config"])

    @classmethod
    def exists(cls, folder: Path, thread_id: str) -> bool:
        return (folder / "threads" / f"{thread_id}.json").is_file()


def serializer():
    """Checkpoint serializer that knows the state's pydantic types (no 'unregistered type' warnings,
    and nothing else is deserialised from msgpack extensions)."""
    import inspect

    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
    from pydantic import BaseModel

    from sovereign.graph import state

    types = [
        (obj.__module__, obj.__name__)
        for obj in vars(state).values()
        if inspect.isclass(obj) and issubclass(obj, BaseModel) and obj.__module__ == state.__name__
    ]
    return JsonPlusSerializer(allowed_msgpack_modules=types)


@contextmanager
def checkpointer(folder: Path) -> Iterator[Any]:
    from langgraph.checkpoint.sqlite import SqliteSaver

    folder.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(folder / "checkpoints.sqlite3", check_same_thread=False)
    try:
        saver = SqliteSaver(conn, serde=serializer())
        yield saver
    finally:
        conn.close()


def stream_run(graph, payload, thread_id: str, cfg: Configuration, on_update: Callable[[str, dict], None]) -> dict | None:
    """Stream one run (or its resumption); returns the interrupt payload when the graph paused."""
    config = {"configurable": {"thread_id": thread_id}, "recursion_limit": 200}
    interrupt = None
    for update in graph.stream(payload, config=config, context=cfg, stream_mode="updates", durability="sync"):
        for node, delta in update.items():
            if node == "__interrupt__":
                interrupt = delta[0].value if delta else {}
                continue
            on_update(node, delta or {})
    return interrupt


def current_state(graph, thread_id: str):
    from sovereign.graph.state import ResearchState

    snapshot = graph.get_state({"configurable": {"thread_id": thread_id}})
    return ResearchState.model_validate(snapshot.values) if snapshot and snapshot.values else None, snapshot
