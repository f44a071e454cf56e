"""Bastion's settings: one object, read from ``BASTION_*`` environment variables.

Every secret setting can instead be read from a file named by ``BASTION_<NAME>_FILE`` (for
Docker and Kubernetes secrets). An unknown ``BASTION_*`` variable, or a value of the wrong shape,
stops start-up with a message that names the variable, so a typo never silently falls back to
a default.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from limits import parse_many
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bastion.errors import ConfigurationError

ENV_PREFIX = "BASTION_"
SECRET_FIELDS = frozenset({"secret_keys", "smtp_url", "database_url", "queue_url", "metrics_token"})
# Variables read by the test suite and CI, not by Bastion itself.
NON_SETTINGS_PREFIXES = ("BASTION_TEST_", "BASTION_REQUIRE_")


def default_data_dir(environ: dict[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    xdg = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "bastion"


class Settings(BaseSettings):
    """What an operator can set. Field ``x`` is the variable ``BASTION_X``."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: SecretStr | None = None
    queue_url: SecretStr | None = None
    secret_keys: SecretStr | None = None
    smtp_url: SecretStr | None = None
    smtp_from: str = "bastion@localhost"
    graph_url: str = "https://graph.facebook.com"
    # Where browsers are sent to log in to the app (a person connecting their profile); the demo
    # and the tests point it, like graph_url, at the simulator.
    facebook_url: str = "https://www.facebook.com"
    graph_api_version: str = "v25.0"
    graph_concurrency: int = Field(default=8, ge=1, le=64)
    graph_timeout_seconds: float = Field(default=30.0, gt=0)
    # How soon after a directory deprovisioning the apps holding the person's seats are checked.
    deprovision_check_delay_minutes: int = Field(default=5, ge=0, le=24 * 60)
    # How long a worker's claim on a running operation lasts unless renewed; the worker renews
    # it every third of this while it calls the app, and another worker resumes an operation
    # whose lease ran out (bastion/actions/operation_leases.py).
    operation_lease_seconds: float = Field(default=15.0, gt=0, le=600)
    # Webhook endpoints must use https://; this lets http:// reach loopback addresses (tests, a
    # receiver on the same machine). A worker's claim on a delivery lasts this long.
    webhook_allow_loopback_http: bool = False
    webhook_lease_seconds: float = Field(default=60.0, ge=20, le=3600)
    # The bearer token Prometheus sends to GET /metrics; without it /metrics answers 404.
    metrics_token: SecretStr | None = None
    # An open review older than this many days is e-mailed to the workspace admins, once.
    review_escalation_days: int = Field(default=3, ge=1, le=365)
    # E-mail normalisations the matching may use (see bastion/matching.py).
    match_strip_plus_addressing: bool = True
    match_fold_googlemail: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    public_url: str | None = None
    # Each API token's (or address's) request budget, as ``N/second|minute|hour|day``.
    api_rate_limit: str = "600/minute"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "console"] = "json"

    @field_validator("graph_api_version")
    @classmethod
    def _version_shape(cls, value: str) -> str:
        parts = value.removeprefix("v").split(".")
        if not value.startswith("v") or len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise ValueError("must look like v25.0")
        return value

    @field_validator("api_rate_limit")
    @classmethod
    def _rate_limit_shape(cls, value: str) -> str:
        try:
            items = parse_many(value)
        except ValueError:
            items = []
        if len(items) != 1 or items[0].amount < 1:
            raise ValueError("must be one budget of at least 1, like 600/minute")
        return value

    @field_validator("graph_url", "facebook_url", "public_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/") if value else value

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file in the data directory."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{self.data_dir / 'bastion.db'}"

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    @property
    def generated_keys_file(self) -> Path:
        return self.data_dir / "secret.keys"


def _read_secret_files(environ: dict[str, str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for name in sorted(SECRET_FIELDS):
        file_var = f"{ENV_PREFIX}{name.upper()}_FILE"
        path = environ.get(file_var)
        if path is None:
            continue
        if f"{ENV_PREFIX}{name.upper()}" in environ:
            raise ConfigurationError(f"{file_var}: set either it or {ENV_PREFIX}{name.upper()}")
        try:
            values[name] = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigurationError(f"{file_var}: cannot read {path}: {exc.strerror}") from None
    return values


def _check_unknown(environ: dict[str, str]) -> None:
    known = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
    known |= {f"{ENV_PREFIX}{name.upper()}_FILE" for name in SECRET_FIELDS}
    for var in sorted(environ):
        if var.startswith(ENV_PREFIX) and var not in known:
            if var.startswith(NON_SETTINGS_PREFIXES):
                continue
            raise ConfigurationError(f"{var}: unknown setting (known: {', '.join(sorted(known))})")


def load_settings(environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
    """Read and validate the settings; raise ConfigurationError naming the bad variable."""
    env = dict(os.environ if environ is None else environ)
    _check_unknown(env)
    values: dict[str, Any] = {}
    for name in Settings.model_fields:
        var = f"{ENV_PREFIX}{name.upper()}"
        if var in env:
            values[name] = env[var]
    values.setdefault("data_dir", default_data_dir(env))
    values.update(_read_secret_files(env))
    values.update(overrides)
    try:
        # Values are passed explicitly so that the environment is read exactly once, here.
        return Settings.model_validate(values)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(p) for p in error["loc"]) or "?"
            problems.append(f"{ENV_PREFIX}{field.upper()}: {error['msg']}")
        raise ConfigurationError("; ".join(problems)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
