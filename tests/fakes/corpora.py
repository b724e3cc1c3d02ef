"""Small corpus files for tests: a slice of the bundled corpus (fast index builds) plus extra lines."""

from __future__ import annotations

import json
from pathlib import Path

from sovereign.adapters.corpus import bundled_corpus_path

LORA_ID = "2106.09685"


def small_corpus(folder: Path, n: int = 120, extra: list[dict | str] = (), name: str = "corpus.jsonl") -> Path:
    """The LoRA paper and the next n-1 bundled papers, then ``extra`` records (dicts) or raw lines."""
    lines = Path(bundled_corpus_path()).read_text().splitlines()
    keep = [l for l in lines if f'"{LORA_ID}"' in l] + [l for l in lines if f'"{LORA_ID}"' not in l][: n - 1]
    keep += [e if isinstance(e, str) else json.dumps(e, ensure_ascii=False) for e in extra]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("\n".join(keep) + "\n", encoding="utf-8")
    return path
