"""Moving-window rate limits (sign-in attempts, API budget), counted where every process sees them.

When the job queue is Redis (``BASTION_QUEUE_URL=redis://…``) the counts live there, so several
web replicas limit a guesser together. Otherwise, and whenever Redis does not answer, each process
counts in its own memory: limits stay in force, per process, rather than failing sign-in.
"""

from __future__ import annotations

from limits import RateLimitItem
from limits.errors import StorageError
from limits.storage import MemoryStorage, RedisStorage
from limits.strategies import MovingWindowRateLimiter

from bastion.logs import get_logger
from bastion.settings import Settings

log = get_logger(__name__)
KEY_PREFIX = "bastion-limits"


class RateCounter:
    """``hit`` spends one unit of a budget, ``test`` looks without spending."""

    def __init__(self, redis_url: str | None = None, *, key_prefix: str = KEY_PREFIX) -> None:
        self._local = MovingWindowRateLimiter(MemoryStorage())
        self._shared = (
            MovingWindowRateLimiter(
                RedisStorage(
                    redis_url,
                    key_prefix=key_prefix,
                    wrap_exceptions=True,
                    socket_connect_timeout=2,
                    socket_timeout=2,
                )
            )
            if redis_url
            else None
        )

    @classmethod
    def for_settings(cls, settings: Settings) -> RateCounter:
        url = settings.queue_url.get_secret_value() if settings.queue_url else None
        shared = url is not None and url.startswith(("redis://", "rediss://", "unix://"))
        return cls(url if shared else None)

    @property
    def shared(self) -> bool:
        return self._shared is not None

    def hit(self, item: RateLimitItem, *identifiers: str) -> bool:
        if self._shared is not None:
            try:
                return self._shared.hit(item, *identifiers)
            except StorageError as exc:
                self._unavailable(exc)
        return self._local.hit(item, *identifiers)

    def test(self, item: RateLimitItem, *identifiers: str) -> bool:
        if self._shared is not None:
            try:
                return self._shared.test(item, *identifiers)
            except StorageError as exc:
                self._unavailable(exc)
        return self._local.test(item, *identifiers)

    @staticmethod
    def _unavailable(exc: StorageError) -> None:
        # The storage error names the failure, never the URL (which may hold a password).
        log.warning(
            "rate limits counted in this process: Redis did not answer",
            error=type(exc.storage_error).__name__,
        )
