"""Graph batch requests: ``POST /`` (versioned or not) with ``batch=[...]``, at most 50 operations.

Each operation runs through the same path as a plain request (token, faults, rate limits, log),
in order, so ``depends_on`` and ``{result=name:$.data.*.id}`` references see earlier results. The
answer is a JSON array in request order of ``{code, headers, body}`` with ``body`` a JSON string,
or ``null`` for an operation that did not complete (injected with the ``batch_null`` fault).

Choices where Meta is unconfirmed: an operation whose ``depends_on`` parent failed is not run and
answers code 400 with a code-100 error naming the parent; a named operation that a later one
references has its response omitted (``null``) unless it sets ``omit_response_on_success: false``;
``include_headers`` defaults to true.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from bastion.connectors.meta.simulator import errors, params
from bastion.connectors.meta.simulator.graph_routes import (
    GraphRequest,
    GraphResponse,
    encode_answer,
    handle_graph,
)
from bastion.connectors.meta.simulator.limits import MAX_BATCH_OPERATIONS

if TYPE_CHECKING:
    from bastion.connectors.meta.simulator.simulator import Simulator

_REFERENCE = re.compile(r"\{result=(?P<name>[^:}]+):(?P<path>\$[^}]*)\}")


def _operations(raw: Any) -> list[dict[str, Any]]:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            raise errors.bad_parameter("Param batch must be a JSON array") from None
    if not isinstance(raw, list) or not raw:
        raise errors.bad_parameter("Param batch must be a non-empty JSON array")
    if len(raw) > MAX_BATCH_OPERATIONS:
        raise errors.bad_parameter(
            f"Too many requests in batch message. Maximum batch size is {MAX_BATCH_OPERATIONS}"
        )
    for index, op in enumerate(raw):
        if not isinstance(op, dict) or not isinstance(op.get("relative_url"), str):
            raise errors.bad_parameter(f"batch[{index}] needs a relative_url")
        if str(op.get("method", "GET")).upper() not in ("GET", "POST", "DELETE"):
            raise errors.bad_parameter(f"batch[{index}] has an unsupported method")
    return raw


def _json_path(document: Any, path: str) -> list[str]:
    """A tiny JSONPath: ``$.id``, ``$.data.0.id``, ``$.data.*.id``."""
    values = [document]
    for part in [p for p in path.lstrip("$").split(".") if p]:
        next_values: list[Any] = []
        for value in values:
            if part == "*" and isinstance(value, list):
                next_values.extend(value)
            elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
                next_values.append(value[int(part)])
            elif isinstance(value, dict) and part in value:
                next_values.append(value[part])
        values = next_values
    return [str(value) for value in values]


def _substitute(text: str, results: dict[str, Any]) -> str:
    def replace(match: re.Match[str]) -> str:
        body = results.get(match["name"])
        if body is None:
            raise errors.bad_parameter(
                f"Batch reference to unknown or failed operation {match['name']!r}"
            )
        return ",".join(_json_path(body, match["path"]))

    return _REFERENCE.sub(replace, text)


def _referenced_names(operations: list[dict[str, Any]]) -> set[str]:
    names: set[str] = set()
    for op in operations:
        if op.get("depends_on"):
            names.add(str(op["depends_on"]))
        names.update(
            m["name"] for m in _REFERENCE.finditer(op["relative_url"] + str(op.get("body", "")))
        )
    return names


def _error_element(error: errors.GraphError, include_headers: bool) -> dict[str, Any]:
    element: dict[str, Any] = {"code": error.status, "body": json.dumps(error.body())}
    if include_headers:
        element["headers"] = [{"name": "Content-Type", "value": "application/json; charset=UTF-8"}]
    return element


async def run_batch(sim: Simulator, outer: GraphRequest) -> GraphResponse:
    operations = _operations(outer.params.get("batch"))
    include_headers = params.flag(outer.params, "include_headers", default=True)
    outer_token = params.text(outer.params, "access_token") or outer.header_token
    proof = params.text(outer.params, "appsecret_proof")
    referenced = _referenced_names(operations)
    results: dict[str, Any] = {}
    failed: set[str] = set()
    answer: list[Any] = []
    for op in operations:
        name = str(op["name"]) if op.get("name") else None
        parent = str(op["depends_on"]) if op.get("depends_on") else None
        if parent is not None and parent in failed:
            if name:
                failed.add(name)
            error = errors.bad_parameter(f"This operation depends on {parent!r}, which failed")
            answer.append(_error_element(error, include_headers))
            continue
        try:
            request = _sub_request(op, results, outer, outer_token, proof)
        except errors.GraphError as error:
            if name:
                failed.add(name)
            answer.append(_error_element(error, include_headers))
            continue
        response = await handle_graph(sim, request)
        if response.null:
            if name:
                failed.add(name)
            answer.append(None)
            continue
        if name:
            if response.status == 200:
                results[name] = response.body
            else:
                failed.add(name)
        omit = op.get("omit_response_on_success", name in referenced if name else False)
        if omit and response.status == 200:
            answer.append(None)
            continue
        element: dict[str, Any] = {
            "code": response.status,
            "body": await encode_answer(response.body),
        }
        if include_headers:
            element["headers"] = [{"name": k, "value": v} for k, v in response.headers.items()]
        answer.append(element)
    headers = sim.rate_limiter.headers(business_id=sim.business_id, now=sim.now(), ad_account=False)
    headers["Content-Type"] = "application/json; charset=UTF-8"
    return GraphResponse(200, answer, headers)


def _sub_request(
    op: dict[str, Any],
    results: dict[str, Any],
    outer: GraphRequest,
    outer_token: str | None,
    proof: str | None,
) -> GraphRequest:
    relative = _substitute(op["relative_url"], results).lstrip("/")
    split = urlsplit("/" + relative)
    query: dict[str, Any] = params.merge_pairs(parse_qsl(split.query, keep_blank_values=True), {})
    body = op.get("body")
    if isinstance(body, str) and body:
        params.merge_pairs(parse_qsl(_substitute(body, results), keep_blank_values=True), query)
    elif isinstance(body, dict):
        query.update(body)
    if "access_token" not in query and outer_token:
        query["access_token"] = outer_token
        if proof and "appsecret_proof" not in query:
            query["appsecret_proof"] = proof
    return GraphRequest(
        method=str(op.get("method", "GET")).upper(),
        path=split.path,
        params=query,
        header_token=None,
        base_url=outer.base_url,
        in_batch=True,
    )
