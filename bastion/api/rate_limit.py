"""A per-caller request budget for the API (429 when spent), on the ``limits`` library.

The caller is their bearer token (hashed) or, without one, their address, so one busy script
does not starve the web pages of others. Counted across processes when the queue is Redis. The
budget is ``BASTION_API_RATE_LIMIT`` (default 600 a minute).
"""

from __future__ import annotations

from fastapi import Request
from limits import parse

from bastion.errors import BastionError
from bastion.rate_limits import RateCounter
from bastion.security.tokens import hash_token


class TooManyRequests(BastionError):
    code = "rate_limited"


class ApiRateLimit:
    def __init__(self, limit: str, counter: RateCounter | None = None) -> None:
        self.item = parse(limit)
        self.counter = counter or RateCounter()

    def __call__(self, request: Request) -> None:
        header = request.headers.get("authorization", "")
        caller = (
            "token:" + hash_token(header)
            if header
            else "ip:" + (request.client.host if request.client else "unknown")
        )
        if not self.counter.hit(self.item, "api", caller):
            raise TooManyRequests("too many requests; slow down and retry in a minute")


def enforce_rate_limit(request: Request) -> None:
    """A plain function, so FastAPI runs it in a worker thread: the count may be in Redis."""
    limit: ApiRateLimit = request.app.state.api_rate_limit
    limit(request)
