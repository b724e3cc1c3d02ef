"""Run configuration: every knob of the kernel, with its description and default.

The graph declares this class as its ``context_schema``, so LangGraph Studio and the graph API
show every field. Nodes read it with :func:`Configuration.from_runtime`, which also accepts the
older ``config["configurable"]`` channel. Secrets (``NVIDIA_API_KEY``) are never configuration:
adapters read them from the environment so they cannot end up in state, checkpoints or reports.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

KNOWN_SOURCES = ("local", "arxiv", "openalex")
DEFAULT_CHAT_MODEL = "meta/llama-3.3-70b-instruct"
DEFAULT_EMBED_MODEL = "nvidia/nv-embedqa-e5-v5"


ENV_DEFAULTS = {
    "chat_model": "SOVEREIGN_CHAT_MODEL",
    "embed_model": "SOVEREIGN_EMBED_MODEL",
    "nim_base_url": "NVIDIA_BASE_URL",
    "arxiv_url": "ARXIV_API_URL",
    "openalex_url": "OPENALEX_API_URL",
    "openalex_mailto": "OPENALEX_MAILTO",
}


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value else default


class Configuration(BaseModel):
    """Knobs of one research run. All have defaults; pass only what you change."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    provider: Literal["auto", "offline", "nim"] = Field(
        default="auto",
        description="Which models run the agents. 'auto' picks 'nim' when NVIDIA_API_KEY or NVIDIA_BASE_URL "
        "is set, else the embedded 'offline' default (deterministic algorithms, no network).",
    )
    n_queries: int = Field(default=4, ge=1, le=16, description="How many search queries the planner issues.")
    papers_per_query: int = Field(default=8, ge=1, le=100, description="Papers kept per query and source.")
    claims_per_paper: int = Field(default=5, ge=1, le=30, description="Atomic claims extracted per paper.")
    extract_papers: int = Field(
        default=1, ge=1, le=10, description="From how many top-ranked papers claims are extracted (1 = primary only)."
    )
    verify_method: Literal["tfidf", "evidence"] = Field(
        default="evidence",
        description="Verifier: 'evidence' checks claims against passages of OTHER papers (SUPPORTED / CONTRADICTED / "
        "UNSUPPORTED, calibrated confidence); 'tfidf' is the seeds' baseline (word 1-2-gram TF-IDF cosine, max over "
        "documents), which also runs next to 'evidence' for comparison.",
    )
    verify_threshold: float = Field(
        default=0.15, ge=0.0, le=1.0, description="Baseline (tfidf): cosine at or above which a claim counts as verified."
    )
    revision_threshold: float = Field(
        default=6.5, ge=0.0, le=10.0, description="Tribunal score below which the synthesizer asks for a revision."
    )
    max_revision_rounds: int = Field(default=1, ge=0, le=5, description="Upper bound on revision rounds.")
    publish_threshold: float = Field(
        default=6.5, ge=0.0, le=10.0, description="Policy: final score needed to PUBLISH without the owner."
    )
    reject_threshold: float = Field(
        default=3.0, ge=0.0, le=10.0, description="Policy: final score below which the draft is REJECTed."
    )
    min_verified_ratio: float = Field(
        default=0.5, ge=0.0, le=1.0, description="Policy: share of claims verified by a paper other than their source needed to PUBLISH."
    )
    owner_review: bool = Field(
        default=False,
        description="Pause with a LangGraph interrupt for the owner's approve/reject when the policy escalates "
        "(needs a checkpointer: the graph API, or the CLI's --owner-review).",
    )
    chat_model: str = Field(
        default=DEFAULT_CHAT_MODEL,
        description="NIM chat model (env SOVEREIGN_CHAT_MODEL).",
    )
    embed_model: str = Field(
        default=DEFAULT_EMBED_MODEL,
        description="NIM embedding model (env SOVEREIGN_EMBED_MODEL); 'input_type' query/passage.",
    )
    nim_base_url: str | None = Field(
        default=None,
        description="Self-hosted NIM / OpenAI-compatible base URL (env NVIDIA_BASE_URL); empty = NVIDIA's catalog.",
    )
    max_concurrency: int = Field(
        default=8, ge=1, le=64, description="NIM requests in flight at most (process-wide, per limit value)."
    )
    nim_timeout_seconds: float = Field(default=60.0, gt=0, le=600, description="Timeout of one NIM request.")
    nim_max_attempts: int = Field(
        default=4, ge=1, le=10, description="Attempts per NIM request (retries on 429/5xx/timeouts/connection errors)."
    )
    cache: bool = Field(
        default=True,
        description="Cache NIM embeddings and arXiv/OpenAlex results on disk (folder: env SOVEREIGN_CACHE_DIR, "
        "default ~/.cache/sovereign), so an identical second run makes no such requests.",
    )
    deadline_seconds: float = Field(
        default=1800.0, gt=0, le=86400,
        description="Overall deadline of a run: after it, model calls are skipped and every agent falls back to its "
        "offline algorithm, so the run still ends with a complete report (the Uncertainties say so).",
    )
    max_output_tokens: int = Field(default=1024, ge=64, le=8192, description="Completion token limit of NIM chat calls.")
    sources: list[str] = Field(
        default=["local"], description="Paper sources, any of: local, arxiv, openalex."
    )
    corpus_path: str | None = Field(
        default=None, description="JSONL corpus for the 'local' source; empty = the bundled corpus."
    )
    output_dir: str | None = Field(
        default=None, description="If set, the report node writes report.md and report.json into this folder."
    )
    arxiv_url: str = Field(
        default="https://export.arxiv.org/api/query",
        description="arXiv API endpoint (env ARXIV_API_URL).",
    )
    arxiv_delay_seconds: float = Field(
        default=3.0, ge=0.0, le=60.0, description="Pause between arXiv requests (arXiv's terms ask for 3 s)."
    )
    openalex_url: str = Field(
        default="https://api.openalex.org",
        description="OpenAlex API base URL (env OPENALEX_API_URL).",
    )
    openalex_mailto: str | None = Field(
        default=None, description="E-mail for OpenAlex's polite pool (env OPENALEX_MAILTO)."
    )
    offline_embed_dim: int = Field(
        default=256, ge=16, le=1024, description="Dimension of the offline TF-IDF + SVD (LSA) embeddings."
    )

    @model_validator(mode="before")
    @classmethod
    def _environment_defaults(cls, data: Any) -> Any:
        """Environment variables stand in for knobs the caller did not set."""
        if isinstance(data, dict):
            data = dict(data)
            for name, var in ENV_DEFAULTS.items():
                if data.get(name) is None and _env(var):
                    data[name] = _env(var)
        return data

    @field_validator("sources", mode="before")
    @classmethod
    def _split_sources(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = [s.strip() for s in v.split(",") if s.strip()]
        return v

    @field_validator("sources")
    @classmethod
    def _check_sources(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("at least one source is needed")
        unknown = [s for s in v if s not in KNOWN_SOURCES]
        if unknown:
            raise ValueError(f"unknown source {unknown[0]!r} (known: {', '.join(KNOWN_SOURCES)})")
        return list(dict.fromkeys(v))

    @model_validator(mode="after")
    def _check_thresholds(self) -> "Configuration":
        if self.reject_threshold > self.publish_threshold:
            raise ValueError("reject_threshold must not exceed publish_threshold")
        return self

    # ------------------------------------------------------------------ resolution helpers

    def resolved_provider(self) -> Literal["offline", "nim"]:
        if self.provider != "auto":
            return self.provider
        return "nim" if (os.environ.get("NVIDIA_API_KEY") or self.nim_base_url) else "offline"

    @classmethod
    def from_runtime(cls, runtime: Any = None, config: dict | None = None) -> "Configuration":
        """Build the configuration from a LangGraph ``Runtime`` context and/or ``config['configurable']``."""
        values: dict[str, Any] = {}
        if config is None:
            try:
                from langgraph.config import get_config

                config = get_config()
            except Exception:  # outside a graph run
                config = None
        if config:
            configurable = config.get("configurable") or {}
            values.update({k: v for k, v in configurable.items() if k in cls.model_fields})
        context = getattr(runtime, "context", None)
        if isinstance(context, cls):
            values.update(context.model_dump(exclude_unset=True))
        elif isinstance(context, dict):
            values.update(context)
        return cls(**values)
