"""A real OpenID Provider (Node's oidc-provider, tests/oidc/op.mjs) on a free loopback port.

The single sign-on tests sign in against it the way a person would against Okta or Entra ID,
through its development login and consent pages. Locally a missing ``node`` or a missing
``npm ci`` skips with the reason; in CI (``CI=true`` or ``BASTION_REQUIRE_OIDC=1``) it fails,
so the single sign-on tests never silently vanish.
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import re
import shutil
import subprocess
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Protocol
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from tests.support.worker_resources import free_port

OIDC_DIR = Path(__file__).resolve().parents[1] / "oidc"
SCRIPT = OIDC_DIR / "op.mjs"
PACKAGE = OIDC_DIR / "node_modules" / "oidc-provider"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
ANY_PASSWORD = "any password"


class OpenIDProviderError(Exception):
    """The test OpenID Provider did not start, or answered a page the way no browser expects."""


class LoginRefused(OpenIDProviderError):
    """The OpenID Provider showed its login form again: it knows no account by that login."""


def _required(name: str) -> bool:
    return any(os.environ.get(var, "").lower() in ("1", "true", "yes") for var in (name, "CI"))


def require_openid_provider() -> str:
    """The path of ``node``, or a skip (a failure in CI) saying what is missing."""
    node = shutil.which("node")
    if node is None:
        missing = "node is not on PATH; install Node.js 20 or newer"
    elif not PACKAGE.is_dir():
        missing = f"{PACKAGE.relative_to(OIDC_DIR.parents[1])} is missing"
    else:
        return node
    message = f"no OpenID Provider ({missing}): run `make test`, which runs npm ci in tests/oidc"
    if _required("BASTION_REQUIRE_OIDC"):
        pytest.fail(message)
    pytest.skip(message)


class LoopbackOpenIDProvider:
    """One oidc-provider process with one confidential client and the given accounts.

    ``accounts`` maps a login name (typed into the OP's login form) to that account's claims;
    ``sub`` defaults to the login name. Use it as a context manager, or through the
    ``start_openid_provider`` fixture.
    """

    def __init__(
        self,
        *,
        redirect_uris: Sequence[str],
        accounts: Mapping[str, Mapping[str, Any]],
        client_id: str = "bastion-test",
        client_secret: str = "bastion-test-secret",
        token_auth_method: str = "client_secret_basic",
    ) -> None:
        self._redirect_uris = list(redirect_uris)
        self._accounts = {login: dict(claims) for login, claims in accounts.items()}
        self._client_id = client_id
        self._client_secret = client_secret
        self._token_auth_method = token_auth_method
        self._port = 0
        self._process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self._output: deque[str] = deque(maxlen=200)
        self._ready = threading.Event()
        self._listening = False

    @property
    def issuer(self) -> str:
        if not self._port:
            raise OpenIDProviderError("the OpenID Provider has not been started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def metadata_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    @property
    def client_id(self) -> str:
        return self._client_id

    @property
    def client_secret(self) -> str:
        return self._client_secret

    @property
    def output(self) -> str:
        """What the Node process printed (its last 200 lines), for a failing test's message."""
        return "".join(self._output)

    @property
    def returncode(self) -> int | None:
        return None if self._process is None else self._process.returncode

    def start(self) -> None:
        node = require_openid_provider()
        # The issuer names the port, so it is chosen here rather than by Node's listen(0).
        self._port = free_port()
        env = {
            "PATH": os.environ.get("PATH", ""),
            "OP_PORT": str(self._port),
            "OP_CLIENT_ID": self._client_id,
            "OP_CLIENT_SECRET": self._client_secret,
            "OP_REDIRECT_URIS": json.dumps(self._redirect_uris),
            "OP_TOKEN_AUTH_METHOD": self._token_auth_method,
            "OP_ACCOUNTS": json.dumps(self._accounts),
        }
        self._process = subprocess.Popen(
            [node, str(SCRIPT)],
            cwd=OIDC_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(
            target=self._drain, args=(self._process.stdout,), name="openid-provider", daemon=True
        )
        self._reader.start()
        output_ended = self._ready.wait(START_TIMEOUT)  # READY, or the end of its output
        if not self._listening:
            if output_ended:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._process.wait(STOP_TIMEOUT)
            self.stop()
            why = (
                f"exited with code {self.returncode}"
                if output_ended
                else f"was not ready within {START_TIMEOUT:.0f} s"
            )
            raise OpenIDProviderError(f"the OpenID Provider {why}; its output:\n{self.output}")

    def _drain(self, stdout: IO[str]) -> None:
        # Reads every line until the process ends, so a chatty OP never blocks on a full pipe.
        for line in stdout:
            self._output.append(line)
            if line.startswith("READY "):
                self._listening = True
                self._ready.set()
        self._ready.set()  # wakes start() at once when the process dies before READY

    def stop(self) -> None:
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._reader is not None:
            self._reader.join(STOP_TIMEOUT)
        if process.stdout is not None:
            process.stdout.close()

    def __enter__(self) -> LoopbackOpenIDProvider:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class StartOpenIDProvider(Protocol):
    """The ``start_openid_provider`` fixture (tests/conftest.py): a started provider per call."""

    def __call__(
        self,
        *,
        redirect_uris: Sequence[str],
        accounts: Mapping[str, Mapping[str, Any]],
        client_id: str = ...,
        client_secret: str = ...,
        token_auth_method: str = ...,
    ) -> LoopbackOpenIDProvider: ...


def complete_dev_login(client: httpx.Client, authorization_url: str, login: str) -> str:
    """Sign in as ``login`` on the OP's pages and consent; the redirect back to the client.

    ``client`` plays the browser: it must keep the OP's cookies across the hops. The returned
    URL (``code``, ``state``, ``iss``, or an ``error``) is not requested, so the test hands it to
    the relying party itself.
    """
    page = _follow(client, authorization_url)
    if isinstance(page, str):
        return page
    if _prompt(page) == "login":
        page = _submit(client, page, {"prompt": "login", "login": login, "password": ANY_PASSWORD})
        if isinstance(page, str):
            return page
        if _prompt(page) == "login":
            raise LoginRefused(f"the OpenID Provider refused the login {login!r}")
    if _prompt(page) == "consent":
        page = _submit(client, page, {"prompt": "consent"})
        if isinstance(page, str):
            return page
    raise OpenIDProviderError(f"unexpected page at {page.url}:\n{page.text[:2000]}")


def abort_dev_login(client: httpx.Client, authorization_url: str) -> str:
    """Press the OP's Cancel link on its login page; the ``error=access_denied`` redirect."""
    page = _follow(client, authorization_url)
    if isinstance(page, str):
        raise OpenIDProviderError(f"the OpenID Provider redirected at once to {page}")
    cancel = re.search(r'<a href="([^"]+)">\[ Cancel \]</a>', page.text)
    if cancel is None:
        raise OpenIDProviderError(f"no Cancel link at {page.url}:\n{page.text[:2000]}")
    after = _follow(client, urljoin(str(page.url), html.unescape(cancel.group(1))))
    if not isinstance(after, str):
        raise OpenIDProviderError(f"no redirect after Cancel, but a page at {after.url}")
    return after


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


def _follow(
    client: httpx.Client, url: str, response: httpx.Response | None = None
) -> httpx.Response | str:
    """Follows the OP's redirects: a page of the OP, or the URL of a redirect leaving it."""
    origin = _origin(url)
    if response is None:
        response = client.get(url, follow_redirects=False)
    for _ in range(20):
        if not response.is_redirect:
            if response.status_code != 200:
                raise OpenIDProviderError(
                    f"the OpenID Provider answered {response.status_code} at {response.url}:\n"
                    f"{response.text[:2000]}"
                )
            return response
        target = urljoin(str(response.url), response.headers["location"])
        if _origin(target) != origin:
            return target
        response = client.get(target, follow_redirects=False)
    raise OpenIDProviderError(f"too many redirects from {url}")


def _prompt(page: httpx.Response) -> str | None:
    found = re.search(r'name="prompt" value="([^"]+)"', page.text)
    return found.group(1) if found else None


def _submit(
    client: httpx.Client, page: httpx.Response, form: dict[str, str]
) -> httpx.Response | str:
    action = re.search(r'<form[^>]*action="([^"]+)"', page.text)
    if action is None:
        raise OpenIDProviderError(f"no form at {page.url}:\n{page.text[:2000]}")
    target = urljoin(str(page.url), html.unescape(action.group(1)))
    return _follow(client, target, client.post(target, data=form, follow_redirects=False))
