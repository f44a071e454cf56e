"""The trust store the connectors verify the apps' servers with, loaded once per process."""

from __future__ import annotations

import ssl
from functools import cache

import httpx


@cache
def trust_context() -> ssl.SSLContext:
    """httpx's own default verification (certifi's bundle, or ``SSL_CERT_FILE`` /
    ``SSL_CERT_DIR`` when set), built once and shared by every client of the process.

    Loading the bundle takes 50–90 ms; a client built with httpx's default pays it again, and a
    check builds one for the app and one for each partner's token.
    """
    return httpx.create_ssl_context()
