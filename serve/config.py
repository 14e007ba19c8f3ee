"""Settings of ``quco serve``: one frozen dataclass, checked once, shared by every request."""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from typing import Any

from quco.errors import ConfigError
from quco.gate.config import GateConfig, config_from_settings

MODES = ("factual", "creative", "auto")
ON_RISK = ("retrieve", "annotate", "block")
STREAM_CHECKS = ("pass", "buffer")
ENV = "QUCO_SERVE_CONFIG"  # how ``--workers N`` hands the settings to each worker process


@dataclass(frozen=True)
class ServeConfig:
    """What the server does.

    ``index``: the index directory (``None``: ``$QUCO_INDEX``, else the bundled sample). ``upstream``: the base
    URL of an OpenAI-compatible API, as given to the ``openai`` SDK (``http://127.0.0.1:8000/v1``); without it
    the chat routes answer 503. ``mode`` / ``on_risk``: as in :func:`quco.wrap`. ``stream_check``: ``pass``
    (chunks flow as they come, the report rides in the final chunk) or ``buffer`` (chunks are held, checked,
    then released or replaced). ``api_key``: bearer token required on every data route. ``upstream_api_key``:
    sent upstream when the client's own ``Authorization`` is the quco key. Limits: ``max_body`` bytes per
    request, ``max_batch`` requests per ``/v1/risk/batch``, ``upstream_timeout`` seconds per upstream call
    (``connect_timeout`` to connect). ``check_batch``: most checks parsed in one batch by the check thread
    (1: one at a time); ``batch_wait_ms``: how long the check thread waits for more checks to join a batch
    (0: only those already waiting); ``check_processes``: run the batches in that many check processes instead
    of the server process's check thread (0; see :mod:`quco.serve.checks`). ``gc_freeze``: after start-up, move
    the live objects out of the garbage collector's sight (``gc.freeze``; see ``quco.serve.checks.freeze_heap``).
    ``gate``: ``FIELD=VALUE`` settings of the gate's :class:`~quco.gate.config.GateConfig` for every check
    (``quco serve --set``; ``quco.gate.config.config_from_settings``).
    """

    index: str | None = None
    upstream: str | None = None
    mode: str = "factual"
    on_risk: str = "retrieve"
    stream_check: str = "pass"
    api_key: str | None = None
    upstream_api_key: str | None = None
    max_body: int = 1_000_000
    max_batch: int = 256
    upstream_timeout: float = 60.0
    connect_timeout: float = 5.0
    check_batch: int = 32
    batch_wait_ms: float = 0.0
    check_processes: int = 0
    gc_freeze: bool = True
    gate: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        if self.on_risk not in ON_RISK:
            raise ConfigError(f"on_risk must be one of {', '.join(ON_RISK)}, not {self.on_risk!r}")
        if self.stream_check not in STREAM_CHECKS:
            raise ConfigError(f"stream_check must be one of {', '.join(STREAM_CHECKS)}, not {self.stream_check!r}")
        if self.upstream is not None and not self.upstream.startswith(("http://", "https://")):
            raise ConfigError(f"--upstream must be an http(s) URL such as http://127.0.0.1:8000/v1, "
                              f"not {self.upstream!r}")
        if self.max_body < 1024 or self.max_batch < 1:
            raise ConfigError("max_body must be at least 1024 bytes and max_batch at least 1")
        if self.check_batch < 1 or not 0 <= self.batch_wait_ms <= 1000 or not 0 <= self.check_processes <= 64:
            raise ConfigError("check_batch must be at least 1, batch_wait_ms between 0 and 1000 and "
                              "check_processes between 0 and 64")
        if self.upstream_timeout <= 0 or self.connect_timeout <= 0:
            raise ConfigError("timeouts must be positive")
        object.__setattr__(self, "gate", tuple(self.gate))  # a list from $QUCO_SERVE_CONFIG's JSON
        self.gate_config  # an unknown field or a wrong value fails here, before serving
        if self.api_key is not None and not self.api_key.strip():
            raise ConfigError("the API key is empty; unset it or give a non-empty key")

    @property
    def gate_config(self) -> GateConfig | None:
        """The checks' GateConfig (``None``: the defaults)."""
        return config_from_settings(self.gate) if self.gate else None

    @property
    def upstream_base(self) -> str | None:
        return self.upstream.rstrip("/") if self.upstream else None

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls) -> "ServeConfig":
        raw = os.environ.get(ENV)
        if not raw:
            raise ConfigError(f"${ENV} is not set: start the server with `quco serve`")
        data: dict[str, Any] = json.loads(raw)
        return cls(**data)
