"""One Graph operation end to end: version, faults, token, rate limit, dispatch, headers, log.

Used for plain HTTP requests and for each operation of a batch, so a batch operation behaves and
counts exactly like the same request sent alone. Paths accept ``/v22.0``–``/v27.0`` or no version
(served as v25.0, the SDKs' default); older versions get Meta's deprecation error (2635).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from bastion.connectors.meta.schema import load_schema
from bastion.connectors.meta.simulator import (
    errors,
    graph_reads,
    graph_writes,
    params,
    partner_graph,
    permissions,
)
from bastion.connectors.meta.simulator.context import GraphContext, graph_time
from bastion.connectors.meta.simulator.errors import GraphError
from bastion.connectors.meta.simulator.faults import Fault
from bastion.connectors.meta.simulator.fields import parse_fields
from bastion.connectors.meta.simulator.limits import (
    DEFAULT_VERSION,
    LATEST_VERSION,
    SUPPORTED_VERSIONS,
)
from bastion.connectors.meta.simulator.ratelimit import throttled
from bastion.connectors.meta.simulator.requestlog import LoggedRequest
from bastion.connectors.meta.simulator.scenario import TokenRecord
from bastion.connectors.meta.simulator.tokens import appsecret_proof, check_token

if TYPE_CHECKING:
    from bastion.connectors.meta.simulator.simulator import Simulator

SCHEMA = load_schema()
_VERSION = re.compile(r"^v(\d+)\.(\d+)$")
_EDGE_USE_CASES = {
    "owned_ad_accounts": "ads_management",
    "client_ad_accounts": "ads_management",
    "assigned_ad_accounts": "ads_management",
    "owned_pages": "pages",
    "client_pages": "pages",
    "assigned_pages": "pages",
    "owned_instagram_assets": "instagram",
    "client_instagram_assets": "instagram",
}
_ASSET_USE_CASES = {"ad_account": "ads_management", "page": "pages", "instagram": "instagram"}
_INJECTED_RATE_LIMIT_MINUTES = 5


@dataclass(slots=True)
class GraphRequest:
    method: str
    path: str
    params: dict[str, Any]
    header_token: str | None = None
    base_url: str = "https://graph.facebook.com"
    in_batch: bool = False


@dataclass(slots=True)
class GraphResponse:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    null: bool = False


def split_path(path: str) -> tuple[str, list[str]]:
    """The Graph version and the node/edge segments of ``path`` (trailing slash tolerated)."""
    parts = [part for part in path.split("/") if part]
    if parts and _VERSION.match(parts[0]):
        match = _VERSION.match(parts.pop(0))
        assert match is not None
        major, minor = int(match[1]), int(match[2])
        if minor != 0 or major > LATEST_VERSION:
            raise errors.GraphError(f"Unknown path components: /{match[0]}", 2500)
        if major not in SUPPORTED_VERSIONS:
            raise errors.GraphError(
                f"(#2635) You are calling a deprecated version of the Graph API. Please update to "
                f"the latest version: v{LATEST_VERSION}.0.",
                2635,
            )
        return match[0], parts
    return f"v{DEFAULT_VERSION}.0", parts


def route_of(sim: Simulator, segments: list[str]) -> str:
    """The route template of a request, for the request log (``/{page_id}/assigned_users``)."""
    if not segments:
        return "/"
    head = segments[0]
    if head in ("me", "debug_token"):
        label = head
    else:
        kind = sim.state.kind_of(head)
        if kind == "asset":
            kind = sim.state.assets[head].type
        label = "{" + (kind or "unknown") + "_id}"
    return "/" + "/".join([label, *segments[1:]])


def use_case(sim: Simulator, segments: list[str]) -> str:
    """The business use case a call counts against, from Meta's list (docs/graph-api/overview/
    rate-limiting: ads_insights, ads_management, custom_audience, instagram, leadgen, messenger,
    pages, whatsapp): ad-account calls count as ads_management, Page calls as pages, Instagram as
    instagram. UNCONFIRMED: which bucket the business-management endpoints count against (Meta
    publishes them with the Marketing API); ads_management is assumed."""
    if not segments:
        return "ads_management"
    head = segments[0]
    if head.startswith("act_"):
        return "ads_management"
    if len(segments) > 1 and segments[-1] in _EDGE_USE_CASES:
        return _EDGE_USE_CASES[segments[-1]]
    asset = sim.state.assets.get(head)
    if asset is not None:
        return _ASSET_USE_CASES.get(asset.type, "ads_management")
    return "ads_management"


def _is_ad_account(segments: list[str]) -> bool:
    return bool(segments) and (
        segments[0].startswith("act_") or _EDGE_USE_CASES.get(segments[-1]) == "ads_management"
    )


def app_token(sim: Simulator, token: str) -> TokenRecord | None:
    """The app's own access token, ``{app-id}|{app-secret}`` (docs/facebook-login/guides/
    access-tokens#apptokens): it speaks for the app, holds no user and no permission."""
    app = sim.state.app
    if app.secret is None or token != f"{app.id}|{app.secret}":
        return None
    return TokenRecord(token, "", "APP", app.id, sim.state.business.id, [], 0, 0)


def authenticate(sim: Simulator, request: GraphRequest, now: float) -> tuple[TokenRecord, bool]:
    """The caller's token record, and whether the token came as a parameter."""
    from_params = params.text(request.params, "access_token")
    token = from_params or request.header_token
    if not token:
        raise errors.no_token()
    record = check_token(sim.state.tokens.get(token) or app_token(sim, token), now)
    proof = params.text(request.params, "appsecret_proof")
    if record.app_id != sim.state.app.id:
        return record, from_params is not None  # a partner's token, for its own app
    secret = sim.state.app.secret
    if proof is not None and secret is not None and proof != appsecret_proof(token, secret):
        raise GraphError(
            "Invalid appsecret_proof provided in the API argument", 100, "GraphMethodException"
        )
    if proof is None and sim.state.settings.require_appsecret_proof:
        raise GraphError(
            "API calls from the server require an appsecret_proof argument",
            100,
            "GraphMethodException",
        )
    return record, from_params is not None


async def apply_fault(sim: Simulator, fault: Fault) -> int | None:
    """Raise the injected error (or sleep for a hang); returns forced usage minutes if throttled."""
    if fault.kind == "http_500":
        raise errors.server_error()
    if fault.kind == "hang":
        await asyncio.sleep(fault.hang_seconds)
        return None
    if fault.kind == "rate_limit":
        raise throttled(fault.code or 613, _INJECTED_RATE_LIMIT_MINUTES)
    if fault.kind == "restricted":
        window = sim.state.settings.restricted_window_days * 86_400
        raise errors.restricted(graph_time(sim.now() + window) or "later")
    if fault.kind == "two_factor":
        raise errors.two_factor_required()
    if fault.kind == "too_much_data":
        raise GraphError(
            "Please reduce the amount of data you're asking for, then retry your request", 1
        )
    raise GraphError(f"(#{fault.code}) An injected error occurred", fault.code or 1)


def check_schema(
    ctx: GraphContext, method: str, segments: list[str], query: Mapping[str, Any]
) -> None:
    """Refuse, before anything else runs, what Meta's schema lacks (the one check for reads and
    writes, plain or batched)."""
    if segments == ["debug_token"]:
        found = SCHEMA.root_violations(method, "debug_token", query)
    else:
        view, _, _ = graph_reads.resolve(ctx, segments[0], method.lower())
        edge = segments[1] if len(segments) == 2 else None
        fields = parse_fields(params.text(query, "fields") or "") if method == "GET" else ()
        found = SCHEMA.violations(view.type_name, method, edge=edge, params=query, fields=fields)
    if found:
        raise errors.schema_refusal(found[0], segments[0])


def dispatch(ctx: GraphContext, method: str, segments: list[str], query: Mapping[str, Any]) -> Any:
    if method not in ("GET", "POST", "DELETE"):
        raise errors.unknown_object("/".join(segments), method.lower())
    if not segments:
        raise errors.bad_parameter("Unsupported request: a node id or a batch is required")
    if len(segments) > 2:
        raise errors.unknown_path("/" + "/".join(segments[2:]))
    if partner_graph.is_partner_token(ctx):
        return partner_graph.dispatch_as_partner(ctx, method, segments, query)
    check_schema(ctx, method, segments, query)
    if segments == ["debug_token"]:
        return graph_reads.debug_token(ctx, query)
    if ctx.token.user_type == "USER" and segments[0] != "me":
        permissions.check_person_seat(ctx.state, ctx.token, method)
    if len(segments) == 1:
        handlers = {"GET": graph_reads.get_node, "POST": graph_writes.post_node}
        return handlers.get(method, graph_writes.delete_node)(ctx, segments[0], query)
    node_id, edge = segments
    if method == "GET":
        return graph_reads.get_edge(ctx, node_id, edge, query)
    if method == "POST":
        return graph_writes.post_edge(ctx, node_id, edge, query)
    return graph_writes.delete_edge(ctx, node_id, edge, query)


async def _dispatch_alone_or_beside_reads(
    ctx: GraphContext, method: str, segments: list[str]
) -> Any:
    """A read renders in a worker thread, beside other reads, so that a small one is not held
    up behind a large one's rendering (Meta serves requests in parallel); a write runs alone,
    in the event loop. Faults, rate limits and the request log stay in the loop: exact counts."""
    lock = ctx.sim.state_lock
    if method == "GET":
        async with lock.reading():
            return await asyncio.to_thread(dispatch, ctx, method, segments, ctx.params)
    async with lock.writing():
        return dispatch(ctx, method, segments, ctx.params)


async def encode_answer(body: Any) -> str:
    """An answer's JSON, encoded in a worker thread as it was rendered (a large business's first
    read is 4 MB), with every character beyond ASCII written as a ``\\u`` escape, as Graph's
    answers quoted in restfb/restfb#94 write them. UNCONFIRMED: that Graph writes no spaces
    between tokens (no documentation says; any JSON reader takes either)."""
    return await asyncio.to_thread(_encoded, body)


# orjson encodes a 4 MB answer about ten times faster than the standard library (whose encoder
# holds the interpreter throughout), so one large answer does not hold up the small ones behind
# it in this single process. It writes UTF-8; escaping is needed only where a name is not ASCII.
_BEYOND_ASCII = re.compile(r"[^\x00-\x7f]")


def _encoded(body: Any) -> str:
    encoded = orjson.dumps(body).decode()
    return encoded if encoded.isascii() else _BEYOND_ASCII.sub(_escape, encoded)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000  # a surrogate pair, as JSON writes characters beyond the first plane
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


async def handle_graph(sim: Simulator, request: GraphRequest) -> GraphResponse:
    method = request.method.upper()
    now = sim.now()
    version, forced_minutes = f"v{DEFAULT_VERSION}.0", None
    segments: list[str] = []
    path = request.path
    ad_account = False
    case = "ads_management"
    try:
        version, segments = split_path(request.path)
        path = "/" + "/".join(segments)
        ad_account = _is_ad_account(segments)
        case = use_case(sim, segments)
        fault = sim.faults.take(method, path, in_batch=request.in_batch)
        if fault is not None and fault.kind == "batch_null":
            _log(sim, request, method, path, segments, 0)
            return GraphResponse(0, None, null=True)
        if fault is not None and fault.kind != "slow_answer":
            if fault.kind == "rate_limit":
                forced_minutes = _INJECTED_RATE_LIMIT_MINUTES
            await apply_fault(sim, fault)
            now = sim.now()
        token, token_in_params = authenticate(sim, request, now)
        sim.rate_limiter.admit(
            business_id=token.business_id,
            token=token.token,
            now=now,
            use_case=case,
            ad_account=ad_account,
        )
        ctx = GraphContext(
            sim=sim,
            state=sim.state,
            now=now,
            token=token,
            base_url=request.base_url,
            version=version,
            params=request.params,
            token_in_params=token_in_params,
        )
        body, status = await _dispatch_alone_or_beside_reads(ctx, method, segments), 200
        if fault is not None and fault.kind == "slow_answer":
            await asyncio.sleep(fault.hang_seconds)
    except GraphError as exc:
        body, status = exc.body(), exc.status
    headers = {
        "Content-Type": "application/json; charset=UTF-8",
        "facebook-api-version": version,
        "x-fb-rev": "1029384756",
        "x-fb-trace-id": errors.new_trace_id()[:11],
        **sim.rate_limiter.headers(
            business_id=sim.business_id,
            now=now,
            ad_account=ad_account,
            use_case=case,
            forced_minutes=forced_minutes,
        ),
    }
    _log(sim, request, method, path, segments, status)
    return GraphResponse(status, body, headers)


def _log(
    sim: Simulator, request: GraphRequest, method: str, path: str, segments: list[str], status: int
) -> None:
    sim.request_log.record(
        LoggedRequest(
            time=sim.now(),
            method=method,
            path=path,
            route=route_of(sim, segments),
            status=status,
            in_batch=request.in_batch,
        )
    )
