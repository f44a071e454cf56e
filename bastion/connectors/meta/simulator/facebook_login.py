"""Facebook Login's manual flow on the simulated app: the dialog's checks, login codes, and the
exchange of a code for a person's user token.

Meta's pages (developers.facebook.com): documentation/facebook-login/guides/advanced/manual-flow
(the dialog's parameters, the redirect back, a cancelled login, the code exchange and its answer
``{access_token, token_type, expires_in}``); documentation/facebook-login/guides/access-tokens/
get-long-lived ("Default User and Page access tokens are short-lived, expiring in hours");
docs/permissions (permission names). The errors' texts are Meta's answers as reported by the
clients that met them, cited where each is raised. Choices where Meta is unconfirmed:

- the order of the exchange's checks (grant type, app, secret, code, redirect URI);
- a code lives ``login_code_ttl_seconds`` (600) and its token ``login_token_ttl_seconds``
  (3600): Meta publishes no figure for codes, and third parties see ~60-day tokens from a web
  exchange; short ones here, so nothing relies on a code or a token lasting;
- an expired code answers subcode 36007 and a redirect URI that differs 36008 (quoted by
  third parties, not seen in a Meta page); a code presented with the wrong redirect URI is
  spent, and presenting a spent code again revokes the token it gave (RFC 6749 4.1.2);
- a code the simulator never issued (or issued to another app) answers Meta's "Invalid
  verification code format." (code 100);
- only ``response_type=code`` is served; ``token``, ``config_id`` (Facebook Login for Business)
  and PKCE (``code_challenge``) get an error page, so a flow that needs them cannot pass here;
- a permission name missing from ``LOGIN_PERMISSIONS`` is not granted (Meta ignores invalid
  scopes for people who are not the app's developers, and names them to developers).
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from bastion.connectors.meta.simulator import errors, params
from bastion.connectors.meta.simulator.scenario import TokenRecord
from bastion.connectors.meta.simulator.state import BusinessState
from bastion.connectors.meta.simulator.tokens import mint_token

# Meta's permission names (docs/permissions, "Permissions Reference"), as Facebook Login grants
# them to a user token.
LOGIN_PERMISSIONS = frozenset(
    """
    ads_management ads_read attribution_read business_management catalog_management
    commerce_account_manage_orders commerce_account_read_orders commerce_account_read_reports
    commerce_account_read_settings commerce_manage_accounts email gaming_user_locale
    groups_access_member_info instagram_basic instagram_content_publish
    instagram_manage_comments instagram_manage_insights instagram_manage_messages
    instagram_shopping_tag_products leads_retrieval manage_fundraisers pages_events
    pages_manage_ads pages_manage_cta pages_manage_engagement pages_manage_instant_articles
    pages_manage_metadata pages_manage_posts pages_messaging pages_read_engagement
    pages_read_user_content pages_show_list pages_user_gender pages_user_locale
    pages_user_timezone private_computation_access public_profile publish_to_groups
    publish_video read_insights research_apis user_age_range user_birthday user_friends
    user_gender user_hometown user_likes user_link user_location user_messenger_contact
    user_photos user_posts user_videos whatsapp_business_management whatsapp_business_messaging
    """.split()  # noqa: SIM905 - a word block reads better than 56 quoted strings
)
# "public_profile ... is granted to all apps" (docs/permissions#public_profile): the dialog
# cannot decline it.
ALWAYS_GRANTED = "public_profile"
# Cancel and "Not now" both send the person back with Meta's documented triplet (manual-flow,
# "Canceled Login"; the same three values in xamarin/FacebookComponents#109). UNCONFIRMED: the
# ``state`` sent back with them (OAuth 2.0 requires it; Meta's example shows none).
DENIED = (
    ("error_reason", "user_denied"),
    ("error", "access_denied"),
    ("error_description", "Permissions error."),
)
_CODE_ALPHABET = string.ascii_letters + string.digits + "-_"
_EXCHANGE_PARAMS = frozenset({"client_id", "client_secret", "redirect_uri", "code", "grant_type"})
_NOT_SIMULATED = ("config_id", "code_challenge", "code_challenge_method")


@dataclass(slots=True)
class LoginCode:
    """A code the dialog handed to ``redirect_uri``, until it is exchanged or expires."""

    code: str
    app_id: str
    redirect_uri: str
    user_id: str  # app-scoped user id
    scopes: list[str]
    declined_scopes: list[str]
    expires_at: float
    spent: bool = False  # a code is single-use, whatever the outcome of its first exchange
    token: str | None = None  # the token it was exchanged for


@dataclass(frozen=True, slots=True)
class DialogRefusal:
    """An error page the dialog shows instead of logging anyone in (it never redirects)."""

    title: str
    message: str


# The pages Meta's dialog shows for an unknown app id (UNCONFIRMED wording, as developers recall
# it) and for a redirect URI missing from the app's Valid OAuth Redirect URIs (as quoted in
# VulcanJS/Vulcan-Starter#98; UNCONFIRMED in a Meta page).
INVALID_APP_ID = DialogRefusal(
    "Invalid App ID", "The provided app ID does not look like a valid app ID."
)
URL_BLOCKED = DialogRefusal(
    "URL Blocked",
    "This redirect failed because the redirect URI is not whitelisted in the app's Client OAuth "
    "Settings. Make sure Client and Web OAuth Login are on and add all your app domains as Valid "
    "OAuth Redirect URIs.",
)


class InvalidCode(errors.GraphError):
    """A refused login code. Meta sends it with ``WWW-Authenticate: OAuth "Facebook Platform"
    "invalid_code" "<message>"`` (seen in omniauth/omniauth#528 and akeeba/sociallogin#102)."""

    def www_authenticate(self) -> str:
        return f'OAuth "Facebook Platform" "invalid_code" "{self.message}"'


def requested_scopes(raw: str | None) -> tuple[list[str], list[str]]:
    """The permissions a dialog asks for (comma- or space-separated; public_profile first and
    always) and the names Meta does not know."""
    names = [name for name in re.split(r"[,\s]+", raw or "") if name]
    known = [ALWAYS_GRANTED]
    unknown: list[str] = []
    for name in names:
        target = known if name in LOGIN_PERMISSIONS else unknown
        if name not in target:
            target.append(name)
    return known, unknown


def dialog_refusal(state: BusinessState, query: Mapping[str, str]) -> DialogRefusal | None:
    """Why the dialog must not go on with these parameters, or ``None``."""
    if query.get("client_id") != state.app.id:
        return INVALID_APP_ID
    # Strict Mode: a redirect URI must be listed exactly (docs/facebook-login/security#strict_mode;
    # developers.facebook.com/blog/post/2017/12/18/strict-uri-matching), so no prefix matches.
    if query.get("redirect_uri") not in state.app.oauth_redirect_uris:
        return URL_BLOCKED
    response_type = query.get("response_type") or "code"
    if response_type != "code":
        return DialogRefusal(
            "Not simulated",
            f"This simulator serves response_type=code only, not {response_type!r}.",
        )
    for name in _NOT_SIMULATED:
        if query.get(name):
            return DialogRefusal("Not simulated", f"This simulator does not serve {name}.")
    return None


def redirect_to(redirect_uri: str, values: Sequence[tuple[str, str]], fragment: str = "") -> str:
    """``redirect_uri`` with ``values`` added to its query string."""
    separator = "&" if "?" in redirect_uri else "?"
    return redirect_uri + separator + urlencode(values) + fragment


def issue_code(
    state: BusinessState,
    rng: random.Random,
    now: float,
    *,
    user_id: str,
    redirect_uri: str,
    scopes: Sequence[str],
    declined: Sequence[str] = (),
) -> str:
    """A fresh single-use code for the person ``user_id`` (app-scoped) who logged in."""
    if state.profile(user_id) is None:
        raise LookupError(f"no Facebook account {user_id}")
    if redirect_uri not in state.app.oauth_redirect_uris:
        raise ValueError(f"{redirect_uri} is not one of the app's Valid OAuth Redirect URIs")
    kept_back = [name for name in declined if name in scopes and name != ALWAYS_GRANTED]
    code = "AQ" + "".join(rng.choices(_CODE_ALPHABET, k=254))
    state.login_codes[code] = LoginCode(
        code=code,
        app_id=state.app.id,
        redirect_uri=redirect_uri,
        user_id=user_id,
        scopes=[name for name in scopes if name not in kept_back],
        declined_scopes=kept_back,
        expires_at=now + state.settings.login_code_ttl_seconds,
    )
    return code


def exchange_code(
    state: BusinessState, rng: random.Random, now: float, query: Mapping[str, Any]
) -> TokenRecord:
    """The user token for a login code (``GET|POST /oauth/access_token``), or Meta's error."""
    unknown = sorted(set(query) - _EXCHANGE_PARAMS)
    if unknown:
        raise errors.bad_parameter(f"Param {unknown[0]} is not a parameter of this request")
    grant_type = params.text(query, "grant_type")
    if grant_type not in (None, "authorization_code"):
        # Meta's words (stackoverflow.com/questions/14575477). fb_exchange_token and
        # client_credentials exist at Meta but are not simulated: refused the same way.
        raise errors.GraphError(
            f"Invalid grant_type: '{grant_type}'. Supported types: authorization_code", 100
        )
    client_id = params.text(query, "client_id")
    if not client_id:
        raise errors.GraphError("Missing client_id parameter.", 101)  # UNCONFIRMED wording
    if client_id != state.app.id:
        # Meta's answer to a wrong client_id (stackoverflow.com/questions/14575477).
        raise errors.GraphError("Error validating application. Invalid application ID.", 101)
    secret = state.app.secret
    if secret is None or params.text(query, "client_secret") != secret:
        # Code 1, no subcode (facebookarchive/php-graph-sdk#538).
        raise errors.GraphError("Error validating client secret.", 1)
    login = state.login_codes.get(params.text(query, "code") or "")
    if login is None or login.app_id != client_id:
        raise InvalidCode("Invalid verification code format.", 100)
    if login.spent:
        revoked = state.tokens.get(login.token or "")
        if revoked is not None:
            revoked.valid = False
        # akeeba/sociallogin#102, CaptainFact/captain-fact-api#54.
        raise InvalidCode("This authorization code has been used.", 100, subcode=36009)
    login.spent = True
    if login.expires_at <= now:
        # SammyK/LaravelFacebookSdk#141; subcode UNCONFIRMED.
        raise InvalidCode("This authorization code has expired.", 100, subcode=36007)
    if params.text(query, "redirect_uri") != login.redirect_uri:
        # freizl/hoauth2#19, scribejava/scribejava#605; subcode UNCONFIRMED.
        raise InvalidCode(
            "Error validating verification code. Please make sure your redirect_uri is "
            "identical to the one you used in the OAuth dialog request",
            100,
            subcode=36008,
        )
    record = TokenRecord(
        token=mint_token(rng),
        user_id=login.user_id,
        user_type="USER",
        app_id=state.app.id,
        business_id=state.business.id,
        scopes=list(login.scopes),
        issued_at=int(now),
        expires_at=int(now) + state.settings.login_token_ttl_seconds,
        declined_scopes=list(login.declined_scopes),
    )
    state.tokens[record.token] = record
    login.token = record.token
    return record
