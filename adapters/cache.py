"""Disk cache for embeddings and search results (SQLite, one file per cache folder).

Keys are SHA-256 digests of (namespace, model/endpoint, input), so a second identical run makes no
embedding or search requests. Safe across threads and processes (SQLite locking, WAL journal).
A corrupt or unreadable cache file is moved aside and rebuilt, never fatal.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
from pathlib import Path

import numpy as np

DEFAULT_DIR = Path(os.path.expanduser("~")) / ".cache" / "sovereign"


def cache_dir() -> Path:
    return Path(os.environ.get("SOVEREIGN_CACHE_DIR") or DEFAULT_DIR)


def digest(*parts: str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode("utf-8", "surrogatepass"))
        h.update(b"\x1f")
    return h.hexdigest()


class Cache:
    def __init__(self, folder: Path):
        self.path = Path(folder) / "cache.sqlite3"
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self.notes: list[str] = []
        self._noted: set[str] = set()

    def _open(self) -> sqlite3.Connection | None:
        if self._conn is not None:
            return self._conn
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v BLOB NOT NULL, t REAL NOT NULL)")
            conn.execute("SELECT count(*) FROM kv").fetchone()
            self._conn = conn
        except sqlite3.DatabaseError:
            # corrupt file: move it aside and start afresh
            try:
                os.replace(self.path, self.path.with_suffix(f".corrupt-{int(time.time())}"))
                self._note(f"cache file {self.path} was corrupt; moved aside and rebuilt")
                conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
                conn.execute("CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v BLOB NOT NULL, t REAL NOT NULL)")
                self._conn = conn
            except (OSError, sqlite3.DatabaseError):
                self._conn = None
        except OSError as exc:
            self._conn = None  # read-only or missing folder: run without a cache
            self._note(f"cache folder {self.path.parent} is unusable ({exc.__class__.__name__}); ran without the cache")
        return self._conn

    def _note(self, line: str) -> None:
        if line not in self._noted:
            self._noted.add(line)
            self.notes.append(line)

    def take_notes(self) -> list[str]:
        """The notes not yet reported (each is reported by one run only)."""
        with self._lock:
            taken, self.notes = self.notes, []
            return taken

    def get_many(self, keys: list[str]) -> dict[str, bytes]:
        with self._lock:
            conn = self._open()
            if conn is None or not keys:
                return {}
            out: dict[str, bytes] = {}
            try:
                for i in range(0, len(keys), 500):
                    chunk = keys[i : i + 500]
                    rows = conn.execute(f"SELECT k, v FROM kv WHERE k IN ({','.join('?' * len(chunk))})", chunk).fetchall()
                    out.update(dict(rows))
            except sqlite3.DatabaseError:
                return {}
            return out

    def put_many(self, items: dict[str, bytes]) -> None:
        with self._lock:
            conn = self._open()
            if conn is None or not items:
                return
            try:
                now = time.time()
                conn.executemany("INSERT OR REPLACE INTO kv (k, v, t) VALUES (?, ?, ?)", [(k, v, now) for k, v in items.items()])
                conn.commit()
            except sqlite3.DatabaseError:
                pass


_caches: dict[str, Cache] = {}
_caches_lock = threading.Lock()


def get_cache() -> Cache:
    folder = str(cache_dir())
    with _caches_lock:
        if folder not in _caches:
            _caches[folder] = Cache(Path(folder))
        return _caches[folder]


def vectors_to_bytes(v: np.ndarray) -> bytes:
    return np.asarray(v, dtype=np.float32).tobytes()


def bytes_to_vector(b: bytes) -> np.ndarray:
    return np.frombuffer(b, dtype=np.float32)
