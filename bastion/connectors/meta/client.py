"""A thin async Graph API client: auth, paging, batches, pacing, retries and counters.

The official SDK is synchronous and does none of this (DESIGN §4), so Bastion keeps its own.
Only GETs are retried on a transient failure: a write whose outcome is unknown goes back to
``operations``, which reads the current state before deciding to repeat it. Rate-limit
refusals are retried for every method, since Meta did not act on a refused call.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import orjson

from bastion.connectors.base import ConnectorError, RateLimited, TooMuchData, Transient
from bastion.connectors.meta.graph_errors import error_from_response, scrub
from bastion.connectors.meta.metrics import (
    GRAPH_RATE_LIMIT_WAIT_SECONDS,
    GRAPH_RATE_LIMIT_WAITS,
    GRAPH_RATE_LIMITED,
    GRAPH_REQUESTS,
)
from bastion.connectors.meta.usage import read_usage
from bastion.connectors.tls import trust_context

DEFAULT_BASE_URL = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v25.0"
MAX_BATCH = 50  # Meta's limit per batch request (reference §2.9)
_AUTH_PARAMS = frozenset({"access_token", "appsecret_proof"})

Method = Literal["GET", "POST", "DELETE"]
JSONObject = dict[str, Any]


@dataclass(frozen=True)
class RetryPolicy:
    """How long to wait and how often to try again. Tests inject ``sleep`` so backoff is real
    in shape but instant in time."""

    transient_attempts: int = 4
    rate_limit_attempts: int = 4
    base_delay: float = 0.5
    rate_limit_base_delay: float = 5.0
    max_delay: float = 60.0
    # Longer waits than this are not slept through: the caller gets RateLimited and defers (an
    # operation to Meta's estimate, a check to its next run), so no worker sits asleep. Meta's
    # estimates come in whole minutes, so only our own short backoff is ever slept.
    max_rate_limit_wait: float = 5.0
    slowdown_threshold: float = 80.0
    slowdown_max_delay: float = 2.0
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    jitter: Callable[[], float] = random.random

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter in its upper half (attempt starts at 1)."""
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        return ceiling * (0.5 + float(self.jitter()) / 2)

    def rate_limit_wait(self, error: RateLimited, attempt: int) -> float:
        """Meta's own estimate when it gave one, else a longer exponential backoff."""
        if error.estimated:
            return error.retry_after_seconds
        ceiling = min(self.max_rate_limit_wait, self.rate_limit_base_delay * 2.0 ** (attempt - 1))
        return ceiling * (0.5 + float(self.jitter()) / 2)


@dataclass(frozen=True)
class GraphCall:
    """One Graph request as a batch element: ``path`` is relative to the version root."""

    method: Method
    path: str
    params: Mapping[str, str] = field(default_factory=dict)

    def relative_url(self, api_version: str) -> str:
        query = urlencode(dict(self.params))
        return f"{api_version}/{self.path}" + (f"?{query}" if query else "")


@dataclass
class CallCounters:
    """What a piece of work cost: HTTP round trips and Graph operations (a batch of n is n)."""

    http_requests: int = 0
    graph_operations: int = 0


class GraphClient:
    """One connection to the Graph API for one token. Use as ``async with GraphClient(...)``."""

    def __init__(
        self,
        *,
        token: str,
        base_url: str = DEFAULT_BASE_URL,
        api_version: str = DEFAULT_API_VERSION,
        app_secret: str | None = None,
        concurrency: int = 8,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.api_version = api_version
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.counters = CallCounters()
        # How many requests may be in flight at once; callers that schedule their own batches
        # keep to it too.
        self.concurrency = concurrency
        self._token = token
        self._app_secret = app_secret
        self._proof = self._proof_for(token)
        self._secrets = tuple(s for s in (token, app_secret, self._proof) if s)
        self._semaphore = asyncio.Semaphore(concurrency)
        self._slowdown = 0.0
        self._http = httpx.AsyncClient(
            base_url=f"{base_url.rstrip('/')}/{api_version}/",
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(timeout),
            verify=trust_context(),
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"GraphClient(api_version={self.api_version!r}, token=<hidden>)"

    async def __aenter__(self) -> GraphClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def secrets(self) -> tuple[str, ...]:
        """Strings that must never leave in a message (for callers that build their own)."""
        return self._secrets

    @property
    def has_app_secret(self) -> bool:
        return bool(self._app_secret)

    def _proof_for(self, token: str) -> str | None:
        if not self._app_secret:
            return None
        return hmac.new(self._app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()

    # --- single calls ---------------------------------------------------------------------------

    async def get(self, path: str, params: Mapping[str, str] | None = None) -> JSONObject:
        return await self._call(GraphCall("GET", path, dict(params or {})), idempotent=True)

    async def post(self, path: str, data: Mapping[str, Any]) -> JSONObject:
        return await self._call(GraphCall("POST", path), body=dict(data), idempotent=False)

    async def delete(self, path: str, params: Mapping[str, str] | None = None) -> JSONObject:
        return await self._call(GraphCall("DELETE", path, dict(params or {})), idempotent=False)

    async def get_as_app(
        self, app_id: str, path: str, params: Mapping[str, str] | None = None
    ) -> JSONObject:
        """A GET whose caller is the app itself (``{app_id}|{app_secret}``), not the token.

        Meta's ``debug_token`` wants an app token or an app developer's token as the caller
        (reference §2.8); only this call uses it, and it joins the secrets scrubbed from errors.
        """
        if not self._app_secret:
            raise ValueError("an app token needs the app secret")
        app_token = f"{app_id}|{self._app_secret}"
        proof = self._proof_for(app_token)
        self._secrets = tuple(
            dict.fromkeys((*self._secrets, app_token, *([proof] if proof else [])))
        )
        call = GraphCall("GET", path, {**dict(params or {}), "access_token": app_token})
        return await self._call(call, idempotent=True)

    async def get_all(self, path: str, params: Mapping[str, str] | None = None) -> list[JSONObject]:
        """Every item of an edge: follows ``paging.next`` until it is absent, because pages can
        be short or even empty and still have a next one (reference §1, Pagination)."""
        page = await self.get(path, params)
        items = list(_data(page))
        next_call = self.next_page(page)
        while next_call is not None:
            page = await self._call(next_call, idempotent=True)
            items.extend(_data(page))
            next_call = self.next_page(page)
        return items

    def next_page(self, page: Mapping[str, Any]) -> GraphCall | None:
        """The call that fetches the page after ``page`` (an edge or an expanded edge), or None.

        The ``next`` URL is turned back into a path on our own base URL, without any token in
        its query, so a URL from a response can never send our token to another host.
        """
        paging = page.get("paging")
        next_url = paging.get("next") if isinstance(paging, Mapping) else None
        if not isinstance(next_url, str) or not next_url:
            return None
        parts = urlsplit(next_url)
        path = parts.path.lstrip("/")
        prefix = f"{self.api_version}/"
        if path.startswith(prefix):
            path = path[len(prefix) :]
        elif path.startswith("v") and "/" in path and path.split("/", 1)[0][1:2].isdigit():
            path = path.split("/", 1)[1]
        params = {k: v for k, v in parse_qsl(parts.query) if k not in _AUTH_PARAMS}
        return GraphCall("GET", path, params)

    # --- batches -------------------------------------------------------------------------------

    async def batch_get(self, calls: Sequence[GraphCall]) -> list[JSONObject | ConnectorError]:
        """Run GETs in batches of up to 50, concurrently; results in the order of ``calls``.

        Elements Meta did not complete (``null``) or that failed transiently are sent again;
        other failures come back in place as ConnectorError so the caller decides.
        """
        chunks = [list(calls[i : i + MAX_BATCH]) for i in range(0, len(calls), MAX_BATCH)]
        results = await asyncio.gather(*(self._batch_chunk(chunk) for chunk in chunks))
        return [item for chunk_result in results for item in chunk_result]

    async def _batch_chunk(self, calls: list[GraphCall]) -> list[JSONObject | ConnectorError]:
        results: list[JSONObject | ConnectorError | None] = [None] * len(calls)
        pending = list(range(len(calls)))
        attempt = 0
        while pending:
            attempt += 1
            answers = await self._send_batch([calls[i] for i in pending])
            retry: list[int] = []
            wait = 0.0
            for index, answer in zip(pending, answers, strict=True):
                results[index] = answer
                last_try = attempt >= self.retry.transient_attempts
                if answer is None or (isinstance(answer, Transient) and not last_try):
                    retry.append(index)
                elif isinstance(answer, RateLimited) and attempt < self.retry.rate_limit_attempts:
                    answer_wait = self.retry.rate_limit_wait(answer, attempt)
                    if answer_wait <= self.retry.max_rate_limit_wait:
                        retry.append(index)
                        wait = max(wait, answer_wait)
            if retry and attempt >= max(
                self.retry.transient_attempts, self.retry.rate_limit_attempts
            ):
                break
            if retry:
                if wait:
                    GRAPH_RATE_LIMIT_WAITS.inc()
                    GRAPH_RATE_LIMIT_WAIT_SECONDS.inc(wait)
                await self.retry.sleep(max(wait, self.retry.backoff(attempt)))
                if wait:
                    self._slowdown = 0.0
            pending = retry
        return [
            r if r is not None else Transient("Meta did not complete a batched request.")
            for r in results
        ]

    async def _send_batch(self, calls: list[GraphCall]) -> list[JSONObject | ConnectorError | None]:
        spec = [
            {"method": c.method, "relative_url": c.relative_url(self.api_version)} for c in calls
        ]
        form = {"batch": json.dumps(spec), "include_headers": "false"}
        raw = await self._call(
            GraphCall("POST", ""), body=form, idempotent=True, operations=len(calls), form=True
        )
        answers = raw.get("_batch")
        if not isinstance(answers, list) or len(answers) != len(calls):
            return [Transient("Meta answered a batch request with an unexpected body.")] * len(
                calls
            )
        return [
            self._batch_answer(call, answer) for call, answer in zip(calls, answers, strict=True)
        ]

    def _batch_answer(self, call: GraphCall, answer: object) -> JSONObject | ConnectorError | None:
        if answer is None:
            return None
        if not isinstance(answer, Mapping):
            return Transient(f"{_describe(call)}: unexpected batch element.")
        status = int(answer.get("code") or 0)
        try:
            body = decode_json(answer.get("body") or "null")
        except ValueError:
            body = None
        headers = {
            str(h.get("name", "")).lower(): str(h.get("value", ""))
            for h in answer.get("headers") or []
            if isinstance(h, Mapping)
        }
        if 200 <= status < 300 and isinstance(body, dict) and "error" not in body:
            return body
        return error_from_response(
            status=status, body=body, headers=headers, secrets=self._secrets, what=_describe(call)
        )

    # --- the one place requests leave ----------------------------------------------------------

    async def _call(
        self,
        call: GraphCall,
        *,
        idempotent: bool,
        body: Mapping[str, Any] | None = None,
        operations: int = 1,
        form: bool = False,
    ) -> JSONObject:
        transient_tries = 0
        rate_limit_tries = 0
        while True:
            try:
                return await self._send(call, body=body, operations=operations, form=form)
            except RateLimited as exc:
                rate_limit_tries += 1
                wait = self.retry.rate_limit_wait(exc, rate_limit_tries)
                too_long = wait > self.retry.max_rate_limit_wait
                if too_long or rate_limit_tries >= self.retry.rate_limit_attempts:
                    raise
                GRAPH_RATE_LIMIT_WAITS.inc()
                GRAPH_RATE_LIMIT_WAIT_SECONDS.inc(wait)
                await self.retry.sleep(wait)
                self._slowdown = (
                    0.0  # Meta's figures predate the wait; the next answer updates them
                )
            except TooMuchData:
                raise  # asked again, the same read is refused again: the caller asks for less
            except Transient:
                transient_tries += 1
                if not idempotent or transient_tries >= self.retry.transient_attempts:
                    raise
                await self.retry.sleep(self.retry.backoff(transient_tries))

    async def _send(
        self,
        call: GraphCall,
        *,
        body: Mapping[str, Any] | None,
        operations: int,
        form: bool,
    ) -> JSONObject:
        params = dict(call.params)
        caller = params.get("access_token")
        # The proof is made from the token that calls: the app token on ``get_as_app``.
        proof = self._proof_for(caller) if caller else self._proof
        if proof:
            params["appsecret_proof"] = proof
        headers = {"Authorization": f"Bearer {caller}"} if caller else None
        async with self._semaphore:
            if self._slowdown > 0:
                await self.retry.sleep(self._slowdown)
            self.counters.http_requests += 1
            self.counters.graph_operations += operations
            try:
                async with asyncio.timeout(self.timeout):
                    response = await self._http.request(
                        call.method,
                        call.path,
                        params=params,
                        headers=headers,
                        data=body if form else None,
                        json=body if (body is not None and not form) else None,
                    )
            except (TimeoutError, httpx.TimeoutException):
                GRAPH_REQUESTS.labels(call.method, "timeout").inc()
                raise Transient(
                    f"{_describe(call)}: Meta did not answer within {self.timeout:g} s."
                ) from None
            except httpx.TransportError as exc:
                GRAPH_REQUESTS.labels(call.method, "unreachable").inc()
                reason = scrub(type(exc).__name__, self._secrets)
                raise Transient(f"{_describe(call)}: could not reach Meta ({reason}).") from None
        GRAPH_REQUESTS.labels(call.method, str(response.status_code)).inc()
        self._note_usage(response.headers)
        try:
            payload: Any = decode_json(response.content)
        except ValueError:
            payload = None
        if response.is_success and not (isinstance(payload, Mapping) and "error" in payload):
            if isinstance(payload, list):
                return {"_batch": payload}
            if isinstance(payload, dict):
                return payload
            raise Transient(f"{_describe(call)}: Meta answered with a body that is not JSON.")
        error = error_from_response(
            status=response.status_code,
            body=payload,
            headers=response.headers,
            secrets=self._secrets,
            what=_describe(call),
        )
        if isinstance(error, RateLimited):
            GRAPH_RATE_LIMITED.inc()
        raise error

    def _note_usage(self, headers: Mapping[str, str]) -> None:
        """Slow down in proportion to how far usage is past the threshold (reference §3)."""
        usage = read_usage(headers)
        policy = self.retry
        if usage.percent < policy.slowdown_threshold:
            self._slowdown = 0.0
            return
        share = (usage.percent - policy.slowdown_threshold) / (100.0 - policy.slowdown_threshold)
        self._slowdown = policy.slowdown_max_delay * min(1.0, max(share, 0.1))


def decode_json(text: bytes | str) -> Any:
    """A body's JSON: by orjson, several times faster than the standard library on a large
    business's 4 MB first read, which holds up the people's next page while it is decoded; by
    the standard library where orjson refuses what that accepts (a lone surrogate escape in a
    name). Raises ``ValueError`` on what is not JSON. Numbers beyond 64 bits read as floats
    (Graph writes its ids and amounts as strings)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _data(page: Mapping[str, Any]) -> list[JSONObject]:
    data = page.get("data")
    return [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []


def _describe(call: GraphCall) -> str:
    """Names a call for a message: method and path only, never the query (it may hold ids of
    no interest, and in a ``next`` URL even a token)."""
    return f"{call.method} /{call.path}" if call.path else f"{call.method} batch"
