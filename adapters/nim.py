"""NVIDIA NIM adapter: embeddings through ``NVIDIAEmbeddings`` (hosted catalog or self-hosted
base URL). The API key is read from ``NVIDIA_API_KEY`` by the client itself, never stored here."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from sovereign.adapters.embeddings import l2_normalize
from sovereign.graph.configuration import Configuration

EMBED_BATCH = 50


class NimEmbedder:
    """nv-embedqa-e5-v5 style embeddings: passages with input_type=passage, queries with query."""

    def __init__(self, model: str, base_url: str | None):
        os.environ.setdefault("NVIDIA_USAGE_TELEMETRY_ENABLED", "false")
        from langchain_nvidia_ai_endpoints import NVIDIAEmbeddings

        kwargs = {"model": model, "truncate": "END", "max_batch_size": EMBED_BATCH}
        if base_url:
            kwargs["base_url"] = base_url
        self._client = NVIDIAEmbeddings(**kwargs)
        self.name = f"{model} (NVIDIA NIM)"

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 1), dtype=np.float32)
        return l2_normalize(np.asarray(self._client.embed_documents(list(texts)), dtype=np.float32))

    def embed_query(self, text: str) -> np.ndarray:
        return l2_normalize(np.asarray(self._client.embed_query(text), dtype=np.float32))[0]


def nim_embedder(cfg: Configuration) -> NimEmbedder:
    return NimEmbedder(cfg.embed_model, cfg.nim_base_url)
