"""What a running Bastion process holds: its settings, database engine and key ring."""

from __future__ import annotations

import gc
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bastion.connectors.registry import ConnectorOptions, load_connectors
from bastion.errors import ConfigurationError
from bastion.logs import get_logger, register_secret
from bastion.security.vault import KeyRing, write_generated_keys
from bastion.settings import Settings
from bastion.storage.db import make_engine, make_session_factory

log = get_logger(__name__)


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session] = field(repr=False)
    key_ring: KeyRing | None = field(default=None, repr=False)
    connector_options: ConnectorOptions = field(default_factory=ConnectorOptions)

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtime:
        engine = make_engine(settings.resolved_database_url)
        return cls(
            settings,
            engine,
            make_session_factory(engine),
            load_key_ring(settings),
            connector_options_from(settings),
        )

    def require_key_ring(self) -> KeyRing:
        if self.key_ring is None:
            raise ConfigurationError(
                "no secret key: set BASTION_SECRET_KEYS (or BASTION_SECRET_KEYS_FILE); "
                "`bastion demo` generates one for trying Bastion out"
            )
        return self.key_ring

    def close(self) -> None:
        self.engine.dispose()


def load_key_ring(settings: Settings, *, generate: bool = False) -> KeyRing | None:
    """The configured key ring; else the one generated into the data directory.

    With ``generate`` (the demo only), a missing key is created there, mode 0600.
    """
    if settings.secret_keys is not None:
        text = settings.secret_keys.get_secret_value()
        variable = "BASTION_SECRET_KEYS"
    else:
        path = settings.generated_keys_file
        if not path.exists():
            if not generate:
                return None
            write_generated_keys(path)
            log.warning(
                "generated a secret key for this machine; production must set its own",
                path=str(path),
                setting="BASTION_SECRET_KEYS",
            )
        text = path.read_text(encoding="utf-8")
        variable = str(path)
    ring = KeyRing.parse(text, variable=variable)
    for _kid, key in ring.keys:
        register_secret(key.hex())
    return ring


def connector_options_from(settings: Settings) -> ConnectorOptions:
    return ConnectorOptions(
        base_url=settings.graph_url,
        login_url=settings.facebook_url,
        api_version=settings.graph_api_version,
        concurrency=settings.graph_concurrency,
        timeout_seconds=settings.graph_timeout_seconds,
    )


def freeze_startup_objects() -> None:
    """Take what start-up built out of the garbage collector's view, once, before serving.

    Modules, routes, ORM mappers and SCIM schemas live as long as the process: about 200,000
    objects that every full collection would otherwise walk again (about 100 ms each on a small
    machine, a pause in whatever request triggered it). Called by ``bastion serve`` and
    ``bastion worker`` once everything is loaded; the connectors and their trust store are
    loaded here too, so no check pays for them.
    """
    load_connectors()
    gc.collect()
    gc.freeze()
