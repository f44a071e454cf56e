"""Rate limits: counted in Redis for every process when the queue is Redis, else per process."""

from __future__ import annotations

import io
import json
import uuid

import redis
from limits import parse

from bastion.actions.sessions import SignInLimiter
from bastion.logs import configure_logging
from bastion.rate_limits import RateCounter
from bastion.settings import load_settings
from tests.conftest import redis_url_or_skip


def _failures_until_refused(limiters: list[SignInLimiter], email: str) -> int:
    """Failed attempts, taking turns over the limiters, before one refuses the next attempt."""
    for attempt in range(20):
        limiter = limiters[attempt % len(limiters)]
        if not limiter.allow_attempt("203.0.113.9", email):
            return attempt
        limiter.count_failure(email)
    return 20


def test_each_process_counts_alone_without_redis() -> None:
    first, second = SignInLimiter.default(), SignInLimiter.default()
    assert not first.counter.shared
    assert _failures_until_refused([first], "a@example.com") == 5
    # Another process knows nothing of those failures.
    assert second.allow_attempt("203.0.113.9", "a@example.com")


def test_the_queue_url_decides_where_limits_are_counted() -> None:
    redis = load_settings({"BASTION_QUEUE_URL": "redis://127.0.0.1:6379/0"})
    postgres = load_settings({"BASTION_QUEUE_URL": "postgresql://db/bastion"})
    assert RateCounter.for_settings(redis, None).shared
    assert not RateCounter.for_settings(postgres, None).shared
    assert not RateCounter.for_settings(load_settings({}), None).shared


def test_an_unreachable_redis_falls_back_to_counting_in_the_process_and_says_so_once() -> None:
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream)
    limiter = SignInLimiter.default(RateCounter("redis://127.0.0.1:1/0"))
    assert _failures_until_refused([limiter], "b@example.com") == 5
    warnings = [json.loads(line) for line in stream.getvalue().splitlines()]
    # Redis is not asked again on every attempt: one failure, one warning, then memory.
    assert [w["event"] for w in warnings] == [
        "Redis did not answer: rate limits are counted in this process for now"
    ]
    assert "127.0.0.1:1" not in stream.getvalue()


def test_two_processes_sharing_redis_count_failures_together() -> None:
    url = redis_url_or_skip()
    prefix = f"bastion-test-{uuid.uuid4().hex}"

    def shared_counter(key_prefix: str = prefix) -> RateCounter:
        # Replicas of one installation share the pseudonym key (derived from its key ring).
        return RateCounter(url, key_prefix=key_prefix, pseudonym_key=b"the installation's key")

    replicas = [SignInLimiter.default(shared_counter()) for _ in range(2)]
    # Five failures in all, spread over both replicas, and both refuse the sixth attempt.
    assert _failures_until_refused(replicas, "c@example.com") == 5
    assert not replicas[0].allow_attempt("198.51.100.1", "c@example.com")
    assert not replicas[1].allow_attempt("198.51.100.1", "c@example.com")
    other = SignInLimiter.default(shared_counter(f"{prefix}-other"))
    assert other.allow_attempt("198.51.100.1", "c@example.com")
    budget = parse("3/minute")
    counters = [shared_counter() for _ in range(3)]
    assert [counter.hit(budget, "api", "caller") for counter in counters * 2] == [
        True,
        True,
        True,
        False,
        False,
        False,
    ]
    keys = redis.Redis.from_url(url).keys(f"{prefix}*")
    assert keys and not any(b"example.com" in k or b"198.51.100.1" in k for k in keys)
