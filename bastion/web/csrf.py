"""Double-submit CSRF protection that also accepts the token from an ordinary form field.

starlette-csrf reads the token from a header only, which htmx requests send but a plain HTML
form cannot. This subclass keeps its cookie and token format and its rules (safe methods pass;
exempt paths pass; only requests carrying a session cookie are checked; ``required_urls`` are
always checked), and additionally:

- reads the ``csrftoken`` field of url-encoded and multipart bodies (the body is buffered and
  replayed to the application);
- makes the token known to the page that is being rendered (``request.state.csrf_token``), even
  on a browser's first visit, so every form can carry it;
- marks the cookie ``Secure`` whenever the request came over TLS;
- leaves exempt paths alone entirely: no check and no cookie.
"""

from __future__ import annotations

import http.cookies
from re import Pattern

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette_csrf.middleware import CSRFMiddleware

FIELD_NAME = "csrftoken"
MAX_BODY_BYTES = 10 * 1024 * 1024


class FormCSRFMiddleware(CSRFMiddleware):
    def __init__(
        self,
        app: ASGIApp,
        secret: str,
        *,
        sensitive_cookies: set[str],
        exempt_urls: list[Pattern[str]],
        required_urls: list[Pattern[str]],
        cookie_name: str = "bastion_csrf",
    ) -> None:
        super().__init__(
            app,
            secret,
            sensitive_cookies=sensitive_cookies,
            exempt_urls=exempt_urls,
            required_urls=required_urls,
            cookie_name=cookie_name,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if self._url_is_exempt(request.url) and not self._url_is_required(request.url):
            # Machine clients (SCIM): no check, and no CSRF cookie they would never use.
            await self.app(scope, receive, send)
            return
        cookie = request.cookies.get(self.cookie_name)
        fresh = cookie is None or not self._valid(cookie)
        token = self._generate_csrf_token() if fresh else cookie
        scope.setdefault("state", {})["csrf_token"] = token
        if request.method not in self.safe_methods and (
            self._url_is_required(request.url)
            or (
                not self._url_is_exempt(request.url)
                and self._has_sensitive_cookies(request.cookies)
            )
        ):
            body = await _read_body(receive)
            if body is None:
                await self._refuse(scope, receive, send, "The request is too large.", 413)
                return
            receive = _replay(body)
            submitted = request.headers.get(self.header_name) or await _form_token(scope, body)
            if fresh or not submitted or not self._csrf_tokens_match(str(cookie), submitted):
                await self._refuse(
                    scope,
                    receive,
                    send,
                    "This form expired or did not come from Bastion. Reload the page and try "
                    "again.",
                    403,
                )
                return
            receive = _replay(body)

        async def send_with_cookie(message: Message) -> None:
            if fresh and message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                jar: http.cookies.SimpleCookie = http.cookies.SimpleCookie()
                jar[self.cookie_name] = str(token)
                jar[self.cookie_name]["path"] = "/"
                jar[self.cookie_name]["samesite"] = "lax"
                if scope.get("scheme") == "https":
                    jar[self.cookie_name]["secure"] = True
                headers.append("set-cookie", jar.output(header="").strip())
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _valid(self, token: str) -> bool:
        try:
            self.serializer.loads(token)
        except Exception:
            return False
        return True

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, message: str, status: int
    ) -> None:
        from starlette.responses import HTMLResponse

        body = (
            "<!doctype html><meta charset=utf-8><title>Request refused</title>"
            "<link rel=stylesheet href=/static/bastion.css>"
            f"<main class='narrow'><h1>Request refused</h1><p>{message}</p>"
            "<p><a href='/'>Back to Bastion</a></p></main>"
        )
        await HTMLResponse(body, status_code=status)(scope, receive, send)


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def _form_token(scope: Scope, body: bytes) -> str | None:
    content_type = Request(scope).headers.get("content-type", "")
    if not content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        return None
    request = Request(scope, _replay(body))
    form = await request.form()
    try:
        value = form.get(FIELD_NAME)
        return value if isinstance(value, str) else None
    finally:
        await form.close()
