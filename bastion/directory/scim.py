"""The SCIM 2.0 server identity providers push the directory to, mounted at ``/scim/v2``.

Endpoints (RFC 7644, served by scim2-server over ``DirectoryStorage``):
    GET                 /ServiceProviderConfig  /ResourceTypes  /Schemas   (discovery)
    GET POST            /Users   /Groups        (list with filter and paging; create)
    GET PUT PATCH DELETE /Users/{id}  /Groups/{id}
    POST                /Users/.search  /Groups/.search

Each request carries a workspace's SCIM token (``Authorization: Bearer <t>``, or the raw token
as Okta's "Header" mode sends it), runs in one database session and transaction in a worker
thread (the database layer is synchronous), and is committed only if it succeeded. The body is
capped before anything parses it.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl

import anyio.to_thread
from pydantic_core import from_json, to_json
from scim2_models import (
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    ETag,
    External,
    Filter,
    InvalidValueException,
    Patch,
    PayloadTooLargeException,
    Reference,
    Resource,
    ResourceType,
    ScimPolicy,
    ScimProvider,
    ServiceProviderConfig,
    Sort,
    UnauthorizedException,
)
from scim2_server.applications.asgi import ASGIApplication, Receive, Scope, Send
from scim2_server.applications.base import BaseApplication
from scim2_server.handler import ScimHandler
from scim2_server.requests import ScimRequest
from scim2_server.responses import ScimResponse
from scim2_server.service import ScimService
from scim2_server.utils import load_default_resource_types, load_default_schemas
from sqlalchemy.orm import Session

from bastion.actions.actors import Actor
from bastion.actions.tokens import PresentedToken, mark_token_used, resolve_token
from bastion.directory.scim_storage import DirectoryStorage
from bastion.nul_characters import MESSAGE as NUL_MESSAGE
from bastion.nul_characters import body_may_hold_nul, nul_field
from bastion.runtime import Runtime
from bastion.storage.models.enums import TokenKind

MAX_BODY_BYTES = 1024 * 1024
MAX_RESULTS = 1000
# Entra adds this schema URN to every Group it creates; it defines no attribute.
ENTRA_GROUP_URN = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"
# Entra's defaults break RFC 7644 in two documented ways (reference §1.2): a member ``remove``
# that carries a value list, and ``replace`` on a filtered path that matches nothing yet.
IDP_POLICY = ScimPolicy(
    remove_value_as_filter=ScimPolicy.RemoveValue.apply,
    unmatched_path_filter=ScimPolicy.UnmatchedPathFilter.create,
)
BEARER = AuthenticationScheme(
    type=AuthenticationScheme.Type.oauthbearertoken,
    name="SCIM token",
    description="A workspace SCIM token from `bastion scim token create`, as a Bearer token",
    spec_uri=Reference[External]("https://datatracker.ietf.org/doc/html/rfc6750"),
    primary=True,
)


def service_provider_config() -> ServiceProviderConfig:
    """What Bastion announces: PATCH, filters, ETags; no bulk, sort or password change."""
    return ServiceProviderConfig(
        patch=Patch(supported=True),
        bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
        filter=Filter(supported=True, max_results=MAX_RESULTS),
        change_password=ChangePassword(supported=False),
        sort=Sort(supported=False),
        etag=ETag(supported=True),
        authentication_schemes=[BEARER],
    )


def build_provider() -> ScimProvider:
    return ScimProvider.from_discovery(
        load_default_schemas().values(),
        load_default_resource_types().values(),
        config=service_provider_config(),
        policy=IDP_POLICY,
    )


class DirectoryScimService(ScimService):
    """scim2-server's protocol, tolerating exactly Entra's group schema URN."""

    def _without_entra_urn(self, body: bytes) -> bytes:
        try:
            payload = from_json(body)
        except ValueError:
            return body  # the normal path reports the syntax error
        if isinstance(payload, dict) and isinstance(payload.get("schemas"), list):
            payload["schemas"] = [s for s in payload["schemas"] if s != ENTRA_GROUP_URN]
            return to_json(payload)
        return body

    def read_creation(
        self, resource_type: ResourceType, body: bytes, content_type: str | None
    ) -> Resource[Any]:
        if resource_type.name == "Group":
            body = self._without_entra_urn(body)
        return super().read_creation(resource_type, body, content_type)

    def read_replacement(
        self, resource_type: ResourceType, body: bytes, content_type: str | None
    ) -> Resource[Any]:
        if resource_type.name == "Group":
            body = self._without_entra_urn(body)
        return super().read_replacement(resource_type, body, content_type)


def presented_token(request: ScimRequest) -> str | None:
    """The token of ``Authorization: Bearer <t>`` or of a bare ``Authorization: <t>``."""
    header = (request.header("Authorization") or "").strip()
    scheme, _, rest = header.partition(" ")
    if scheme.lower() == "bearer":
        return rest.strip() or None
    return header if header and " " not in header else None


class DirectoryScimApp(BaseApplication):
    """An ASGI app serving SCIM over Bastion's database, one workspace per token."""

    def __init__(self, runtime: Runtime) -> None:
        provider = build_provider()
        super().__init__(provider, DirectoryScimService(provider))
        self.runtime = runtime
        self.check_delay = timedelta(minutes=runtime.settings.deprovision_check_delay_minutes)

    @staticmethod
    def base_url(scope: Scope) -> str:
        """The SCIM root as the client sees it: the mount point is already ``/scim/v2``."""
        headers = dict(scope["headers"])
        host = headers.get(b"host", b"").decode()
        if not host and scope.get("server"):
            host = "{}:{}".format(*scope["server"])
        return f"{scope['scheme']}://{host}{scope.get('root_path', '')}"

    async def read_request(self, scope: Scope, receive: Receive) -> ScimRequest | None:
        """The request, or None when its body is over the limit (it is then never parsed)."""
        request = ScimRequest(
            method=scope["method"],
            base_url=self.base_url(scope),
            path=self.split_path(ASGIApplication.get_path(scope)),
            query=dict(_query(scope)),
            headers=[(name.decode(), value.decode()) for name, value in scope["headers"]],
        )
        declared = request.header("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            return None
        chunks: list[bytes] = []
        size, more_body = 0, True
        while more_body:
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                return None
            chunks.append(chunk)
            more_body = message.get("more_body", False)
        request.body = b"".join(chunks)
        return request

    def authenticate(self, session: Session, request: ScimRequest) -> PresentedToken:
        token = presented_token(request)
        row = resolve_token(session, token, TokenKind.SCIM) if token else None
        if row is None:
            raise UnauthorizedException(detail="a valid SCIM token is required")
        mark_token_used(session, row)
        return row

    def serve_in_transaction(self, request: ScimRequest) -> ScimResponse:
        """Authenticate and serve one request in its own transaction (runs in a thread)."""
        with self.runtime.sessions() as session:
            try:
                with session.begin():
                    if not self.needs_auth(request):
                        return ScimHandler(self.service, _NoStorage()).handle(request)
                    token = self.authenticate(session, request)
                    if (field := _field_with_nul(request)) is not None:
                        raise InvalidValueException(detail=f"{field}: {NUL_MESSAGE}")
                    request_id = request.header("X-Request-ID") or uuid.uuid4().hex
                    storage = DirectoryStorage(
                        session,
                        provider=self.provider,
                        workspace_id=token.workspace_id,
                        actor=Actor(f"scim-token:{token.id}", None, request_id[:64]),
                        check_delay=self.check_delay,
                    )
                    return ScimHandler(self.service, storage).handle(request)
            except Exception as exc:  # rolled back by session.begin(); reported as SCIM
                return self.handle_exception(request, exc)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await ASGIApplication.serve_lifespan(receive, send)
            return
        request = await self.read_request(scope, receive)
        if request is None:
            too_large = PayloadTooLargeException(
                detail=f"the request body is larger than {MAX_BODY_BYTES} bytes"
            )
            response = self.service.error_response(too_large)
        else:
            response = await anyio.to_thread.run_sync(self.serve_in_transaction, request)
            response = self.finalize_response(request, response)
        await ASGIApplication.send_response(response, send)


def _field_with_nul(request: ScimRequest) -> str | None:
    """The query parameter or attribute holding a NUL character, named as the client sent it.

    A PATCH operation's value is named by the operation's path (``name.givenName``), so the
    identity provider's admin sees which attribute to fix.
    """
    for name, value in request.query.items():
        found = nul_field(name, "query") or nul_field(value, name)
        if found is not None:
            return found
    if not body_may_hold_nul(request.body or b""):
        return None
    try:
        payload = from_json(request.body)
    except ValueError:
        return "body"  # a raw NUL byte: the body is not JSON either
    operations = payload.get("Operations") if isinstance(payload, dict) else None
    if isinstance(operations, list):
        for operation in operations:
            if isinstance(operation, dict):
                path = str(operation.get("path") or "")
                found = nul_field(path, "path") or nul_field(operation.get("value"), path)
                if found is not None:
                    return found or "value"
    return nul_field(payload, "")


def _query(scope: Scope) -> list[tuple[str, str]]:
    return parse_qsl(scope["query_string"].decode(), keep_blank_values=True)


class _NoStorage(DirectoryStorage):
    """The storage of unauthenticated discovery requests, which never read resources."""

    def __init__(self) -> None:
        pass
