"""Moving-window rate limits (sign-in attempts, API budget), counted where every process sees them.

When the job queue is Redis (``BASTION_QUEUE_URL=redis://…``) the counts live there, so several
web replicas limit a guesser together. Otherwise each process counts in its own memory. When
Redis stops answering, the process counts in memory for a while (limits stay in force, per
process) and tries Redis again later, rather than failing sign-in or waiting on every request.

Who is counted (an e-mail, an address, a token) appears in the keys only as a keyed hash.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from limits import RateLimitItem
from limits.errors import StorageError
from limits.storage import MemoryStorage, RedisStorage
from limits.strategies import MovingWindowRateLimiter

from bastion.logs import get_logger
from bastion.security.vault import KeyRing
from bastion.settings import Settings

log = get_logger(__name__)
KEY_PREFIX = "bastion-limits"
# How long a process counts on its own after Redis failed, before trying Redis again.
RETRY_SHARED_AFTER_SECONDS = 30.0


class RateCounter:
    """``hit`` spends one unit of a budget, ``test`` looks without spending.

    Call from a worker thread, not the event loop: a shared count is a Redis round trip.
    """

    def __init__(
        self,
        redis_url: str | None = None,
        *,
        key_prefix: str = KEY_PREFIX,
        pseudonym_key: bytes | None = None,
    ) -> None:
        # Processes that count together need the same key; without one, hashes are per process.
        self._pseudonym_key = pseudonym_key or secrets.token_bytes(32)
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
        self._shared_down_until = 0.0

    @classmethod
    def for_settings(cls, settings: Settings, key_ring: KeyRing | None) -> RateCounter:
        url = settings.queue_url.get_secret_value() if settings.queue_url else None
        shared = url is not None and url.startswith(("redis://", "rediss://"))
        key = None
        if key_ring is not None:
            _kid, secret = key_ring.keys[0]
            key = hashlib.sha256(b"bastion-rate-limits:" + secret).digest()
        return cls(url if shared else None, pseudonym_key=key)

    @property
    def shared(self) -> bool:
        return self._shared is not None

    def hit(self, item: RateLimitItem, namespace: str, who: str) -> bool:
        return self._count(item, namespace, who, spend=True)

    def test(self, item: RateLimitItem, namespace: str, who: str) -> bool:
        return self._count(item, namespace, who, spend=False)

    def _count(self, item: RateLimitItem, namespace: str, who: str, *, spend: bool) -> bool:
        pseudonym = hmac.new(self._pseudonym_key, who.encode(), hashlib.sha256).hexdigest()[:32]
        if self._shared is not None and time.monotonic() >= self._shared_down_until:
            try:
                if spend:
                    return self._shared.hit(item, namespace, pseudonym)
                return self._shared.test(item, namespace, pseudonym)
            except StorageError as exc:
                self._shared_down_until = time.monotonic() + RETRY_SHARED_AFTER_SECONDS
                # The storage error names the failure, never the URL (it may hold a password).
                log.warning(
                    "Redis did not answer: rate limits are counted in this process for now",
                    error=type(exc.storage_error).__name__,
                    retry_in_seconds=RETRY_SHARED_AFTER_SECONDS,
                )
        if spend:
            return self._local.hit(item, namespace, pseudonym)
        return self._local.test(item, namespace, pseudonym)
