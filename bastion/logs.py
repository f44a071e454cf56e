"""Structured JSON logs that never carry a secret.

Every event, Bastion's own and those of the libraries it uses (through the standard ``logging``
module), passes the ``redact_secrets`` processor: it masks Meta tokens (``EAA…``), bearer tokens,
Bastion's own tokens, values under secret-sounding keys, and every value registered with
``register_secret`` (the keys of the vault, SMTP passwords, tokens being validated).
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

REDACTED = "[redacted]"
_SECRET_PATTERNS = (
    re.compile(r"EAA[A-Za-z0-9]{8,}"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(r"bst_(?:api|scim)_[A-Za-z0-9_-]+"),
    re.compile(r"(?i)((?:access_token|appsecret_proof|input_token|password|secret)=)[^&\s\"']+"),
    # A login's one-time code, state and link tokens in query strings (an HTTP client's log line).
    re.compile(r"(?i)((?<=[?&])(?:code|state|token|fb_exchange_token)=)[^&\s\"']+"),
)
_SECRET_KEYS = re.compile(r"(?i)(token|password|secret|authorization|cookie|api_key|proof)")
_known_secrets: set[str] = set()
_known_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Mask this exact value wherever it appears in a log line from now on."""
    if value and len(value) >= 6:
        with _known_lock:
            _known_secrets.add(value)


def redact_text(text: str) -> str:
    with _known_lock:
        known = sorted(_known_secrets, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, REDACTED)
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(
            lambda m: (m.group(1) if m.lastindex else "") + REDACTED,
            text,
        )
    return text


def _redact_value(key: str, value: Any) -> Any:
    if isinstance(value, str):
        if _SECRET_KEYS.search(key) and value:
            return REDACTED
        return redact_text(value)
    if isinstance(value, dict):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(key, v) for v in value]
    if isinstance(value, BaseException):
        return redact_text(repr(value))
    return value


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key in list(event_dict):
        event_dict[key] = _redact_value(key, event_dict[key])
    return event_dict


def _redact_rendered(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Any:
    # Tracebacks are rendered into "exception" late; mask them after rendering too.
    if isinstance(event_dict.get("exception"), str):
        event_dict["exception"] = redact_text(event_dict["exception"])
    return event_dict


def configure_logging(
    level: str = "info",
    fmt: str = "json",
    stream: TextIO | None = None,
    *,
    libraries: str | None = None,
) -> None:
    """Route structlog and the standard library through one redacting pipeline.

    ``libraries`` is the level of every logger but Bastion's own (``bastion.*``, at ``level``):
    the demo keeps httpx's request lines, uvicorn's and huey's chatter off a person's terminal.
    """
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_secrets,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            _redact_rendered,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    levels = logging.getLevelNamesMapping()
    ours = levels[level.upper()]
    # Libraries are never louder than Bastion itself.
    root.setLevel(max(ours, levels[libraries.upper()]) if libraries else ours)
    logging.getLogger("bastion").setLevel(ours if libraries else logging.NOTSET)
    for noisy in ("uvicorn.access",):
        logging.getLogger(noisy).propagate = True


def get_logger(name: str) -> Any:
    return structlog.stdlib.get_logger(name)
