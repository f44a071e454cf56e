"""Graph request parameters from the query string, form bodies and JSON bodies, as Meta reads them
(``read_request``).

Arrays arrive in four shapes and all are accepted: a real JSON array (JSON body), a JSON string
(``tasks=["MANAGE"]``), indexed form keys (``tasks[0]=MANAGE``), or a comma-separated string.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request

from bastion.connectors.meta.simulator.errors import bad_parameter

_INDEXED = re.compile(r"^(?P<name>[A-Za-z_]+)\[(?P<index>\d*)\]$")


def merge_pairs(pairs: Iterable[tuple[str, str]], into: dict[str, Any]) -> dict[str, Any]:
    """Fold ``key=value`` pairs into ``into``, collecting ``key[i]`` pairs into lists."""
    indexed: dict[str, list[tuple[int, str]]] = {}
    for key, value in pairs:
        match = _INDEXED.match(key)
        if match:
            position = (
                int(match["index"]) if match["index"] else len(indexed.get(match["name"], []))
            )
            indexed.setdefault(match["name"], []).append((position, value))
        else:
            into[key] = value
    for name, items in indexed.items():
        into[name] = [value for _, value in sorted(items)]
    return into


def text(params: Mapping[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, (list, dict)):
        raise bad_parameter(f"Param {name} must be a string")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def required_text(params: Mapping[str, Any], name: str) -> str:
    value = text(params, name)
    if not value:
        raise bad_parameter(f"The parameter {name} is required")
    return value


def string_list(params: Mapping[str, Any], name: str) -> list[str] | None:
    """The list parameter ``name``, or ``None`` when absent."""
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("["):
            try:
                value = json.loads(stripped)
            except json.JSONDecodeError:
                raise bad_parameter(f"Param {name} must be an array") from None
        else:
            value = [part.strip() for part in stripped.split(",") if part.strip()]
    if not isinstance(value, list) or not all(isinstance(item, (str, int)) for item in value):
        raise bad_parameter(f"Param {name} must be an array of strings")
    return [str(item) for item in value]


def flag(params: Mapping[str, Any], name: str, default: bool = False) -> bool:
    value = params.get(name)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).lower() in ("1", "true", "yes")


async def read_request(request: Request) -> dict[str, Any]:
    """A request's parameters: the query string, plus the body's for a POST."""
    query = merge_pairs(request.query_params.multi_items(), {})
    if request.method == "GET":
        return query
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        raw = await request.body()
        if raw.strip():
            try:
                body = json.loads(raw)
            except json.JSONDecodeError:
                raise bad_parameter("The request body is not valid JSON") from None
            if not isinstance(body, dict):
                raise bad_parameter("The JSON request body must be an object")
            query.update(body)
    elif content_type.startswith("multipart/form-data"):
        async with request.form() as form:
            pairs = [(key, value) for key, value in form.multi_items() if isinstance(value, str)]
        merge_pairs(pairs, query)
    else:
        raw = await request.body()
        merge_pairs(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True), query)
    return query
