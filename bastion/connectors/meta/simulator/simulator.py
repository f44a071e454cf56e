"""The Simulator: live business state, clock, faults, rate limits, tokens and request log.

The Graph routes and the ``/_sim/`` control API both drive this object; tests can call its methods
directly (the control API is a thin JSON layer over them) between requests: a read in flight may be
rendering in a worker thread, and only the server's own paths wait for it (``state_lock``).
Out-of-band changes model what an admin does by hand in Business Manager, so they skip API-only
policies (restricted window, two-factor) but keep Business Manager's own rules (last admin, valid
roles and tasks).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import Any
from urllib.parse import urlsplit

from bastion.connectors.meta.simulator import errors, facebook_login
from bastion.connectors.meta.simulator.clock import SimClock
from bastion.connectors.meta.simulator.dump import dump_state, snapshot
from bastion.connectors.meta.simulator.enums import TASKS, expand_tasks
from bastion.connectors.meta.simulator.faults import Fault, FaultPlan
from bastion.connectors.meta.simulator.limits import REQUIRED_PERMISSIONS
from bastion.connectors.meta.simulator.ratelimit import RateLimiter
from bastion.connectors.meta.simulator.requestlog import RequestLog
from bastion.connectors.meta.simulator.scenario import (
    PartnerPersonRecord,
    PartnerSystemUserRecord,
    Scenario,
    ScenarioSettings,
    TokenRecord,
)
from bastion.connectors.meta.simulator.state import BusinessState, FacebookProfile
from bastion.connectors.meta.simulator.state_lock import StateLock
from bastion.connectors.meta.simulator.tokens import TOKEN_TYPES, mint_token


class Simulator:
    """One simulated Meta business, ready to be served by ``create_simulator_app``."""

    def __init__(self, scenario: Scenario, *, latency_ms: float = 0) -> None:
        self.latency_ms = float(latency_ms)
        self.request_log = RequestLog()
        self.faults = FaultPlan()
        # Taken by the server (``app``): reads render in worker threads, changes run alone.
        self.state_lock = StateLock()
        self.load(scenario)

    # ----------------------------------------------------------------- lifecycle

    def load(self, scenario: Scenario) -> None:
        """Replace the whole business with ``scenario`` (it also becomes the reset point)."""
        if not scenario.tokens:
            raise ValueError("a scenario needs at least the admin system user's token")
        self._original = scenario
        self.reset()

    def reset(self) -> None:
        """Back to the loaded scenario: state, clock, budgets, faults and request log."""
        scenario = self._original
        self.state = BusinessState(scenario)
        self.clock = SimClock(scenario.clock_start)
        self.rate_limiter = RateLimiter(self.state.settings)
        self._rng = random.Random(scenario.seed * 7919 + 17)  # noqa: S311 - reproducible tokens
        self.faults.clear()
        self.request_log.clear()

    @property
    def business_id(self) -> str:
        return self.state.business.id

    @property
    def app_id(self) -> str:
        return self.state.app.id

    @property
    def app_secret(self) -> str | None:
        return self.state.app.secret

    @property
    def app_token(self) -> str:
        """The app's own access token, ``{app-id}|{app-secret}``: the caller debug_token wants."""
        return f"{self.app_id}|{self.app_secret}"

    @property
    def token(self) -> str:
        return self._original.token

    @property
    def admin_system_user_id(self) -> str:
        return self.state.admin_system_user_id

    def now(self) -> float:
        return self.clock.now()

    def dump(self) -> dict[str, Any]:
        return dump_state(self.state, self.now())

    def scenario_snapshot(self) -> Scenario:
        return snapshot(self.state, self.now())

    # ----------------------------------------------------------------- knobs

    def make_token(
        self,
        *,
        scopes: list[str] | tuple[str, ...] = REQUIRED_PERMISSIONS,
        expires_at: int = 0,
        user_type: str = "SYSTEM_USER",
        user_id: str | None = None,
    ) -> str:
        """A new token for tests: missing a permission, expiring, or held by a person.

        A person's token (``user_type="USER"``) holds their app-scoped user id, as a token from
        Facebook Login does; ``user_id`` may name them by that id or by their business-scoped id
        (default: the first admin).
        """
        if user_type not in TOKEN_TYPES:
            raise ValueError(f"user_type must be one of {TOKEN_TYPES}")
        if user_type == "USER":
            user_id = self._app_scoped_id(user_id)
        elif user_id is None:
            user_id = self.admin_system_user_id
        elif not self.state.is_business_scoped(user_id):
            raise LookupError(f"no person or system user {user_id}")
        token = mint_token(self._rng)
        self.state.tokens[token] = TokenRecord(
            token=token,
            user_id=user_id,
            user_type=user_type,
            app_id=self.app_id,
            business_id=self.business_id,
            scopes=list(scopes),
            issued_at=int(self.now()),
            expires_at=int(expires_at),
        )
        return token

    def _app_scoped_id(self, user_id: str | None) -> str:
        if user_id is None:
            return next(p.global_id for p in self.state.people.values() if p.role == "ADMIN")
        if user_id in self.state.people:
            return self.state.people[user_id].global_id
        if self.state.profile(user_id) is None:
            raise LookupError(f"no person or Facebook account {user_id}")
        return user_id

    def revoke_token(self, token: str) -> None:
        record = self.state.tokens.get(token)
        if record is not None:
            record.valid = False

    def inject_fault(
        self,
        kind: str,
        *,
        count: int = 1,
        method: str | None = None,
        path: str | None = None,
        code: int | None = None,
        hang_seconds: float = 30.0,
    ) -> None:
        self.faults.add(Fault(kind, count, method, path, code, hang_seconds))

    def clear_faults(self) -> None:
        self.faults.clear()

    def advance_clock(self, seconds: float) -> float:
        return self.clock.advance(seconds)

    def set_latency(self, ms: float) -> None:
        if ms < 0:
            raise ValueError("latency must not be negative")
        self.latency_ms = float(ms)

    def update_settings(self, **values: Any) -> ScenarioSettings:
        known = {f.name for f in fields(ScenarioSettings)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown setting(s) {sorted(unknown)}; known: {sorted(known)}")
        for key, value in values.items():
            setattr(self.state.settings, key, value)
        return self.state.settings

    # ----------------------------------------------------------------- Facebook Login

    @property
    def oauth_redirect_uris(self) -> list[str]:
        """The app's Facebook Login setting "Valid OAuth Redirect URIs"."""
        return list(self.state.app.oauth_redirect_uris)

    def set_oauth_redirect_uris(self, uris: Sequence[str]) -> None:
        """Replace the app's Valid OAuth Redirect URIs; the dialog redirects only to these,
        compared as exact strings. Meta also asks for https outside localhost (Enforce HTTPS);
        the simulator takes http too, so tests can log in on loopback."""
        for uri in uris:
            parts = urlsplit(uri)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
                raise ValueError(f"{uri!r} is not an absolute http(s) URI without a fragment")
        self.state.app.oauth_redirect_uris = list(dict.fromkeys(uris))

    def facebook_accounts(self) -> list[FacebookProfile]:
        """Who can log in with Facebook: every person with a seat (``person`` set), then the
        accounts without one."""
        return self.state.profiles()

    def add_facebook_user(self, *, name: str, email: str) -> str:
        """A Facebook account with no seat in the business; returns its app-scoped id."""
        return self.state.add_facebook_user(name=name, email=email).id

    def issue_login_code(
        self,
        user: str,
        *,
        redirect_uri: str,
        scopes: Sequence[str] = (facebook_login.ALWAYS_GRANTED,),
        declined: Sequence[str] = (),
    ) -> str:
        """What the login dialog hands to ``redirect_uri`` when ``user`` (an app-scoped id or
        an account's e-mail) logs in granting ``scopes`` but ``declined``: a code to exchange."""
        profile = self.state.profile(user) or self.state.profile_by_email(user)
        if profile is None:
            raise LookupError(f"no Facebook account {user}")
        granted, unknown = facebook_login.requested_scopes(",".join(scopes))
        if unknown:
            raise ValueError(f"not Meta permissions: {', '.join(unknown)}")
        return facebook_login.issue_code(
            self.state,
            self._rng,
            self.now(),
            user_id=profile.id,
            redirect_uri=redirect_uri,
            scopes=granted,
            declined=declined,
        )

    def exchange_login_code(self, query: Mapping[str, Any]) -> TokenRecord:
        """``/oauth/access_token``: the user token for a code, or Meta's ``GraphError``."""
        return facebook_login.exchange_code(self.state, self._rng, self.now(), query)

    # ----------------------------------------------------------------- invitee actions

    def accept_invitation(self, invitation_id: str, *, name: str | None = None) -> str:
        """The invitee accepts: the invitation becomes a person; returns the person's id."""
        return self.state.accept_invitation(invitation_id, self.now(), name).id

    def decline_invitation(self, invitation_id: str) -> None:
        self.state.close_invitation(invitation_id, "DECLINED", self.now())

    # ----------------------------------------------------------------- out-of-band changes

    def add_person(self, *, name: str, email: str, role: str = "EMPLOYEE") -> str:
        return self.state.add_person(name=name, email=email, role=role, now=self.now()).id

    def remove_person(self, user_id: str) -> None:
        self._person(user_id)
        self.state.remove_person(user_id)

    def set_role(self, user_id: str, role: str) -> None:
        self._person(user_id)
        self.state.update_person(user_id, {"role": role})

    def add_asset(
        self,
        *,
        asset_type: str,
        name: str,
        ownership: str = "owned",
        owner_business_id: str | None = None,
    ) -> str:
        owner = owner_business_id or self.business_id
        asset = self.state.add_asset(
            asset_type=asset_type,
            name=name,
            ownership=ownership,
            owner_business_id=owner,
            now=self.now(),
        )
        return asset.id

    def remove_asset(self, asset_id: str) -> None:
        if asset_id not in self.state.assets:
            raise LookupError(f"no asset {asset_id}")
        self.state.remove_asset(asset_id)

    def grant_tasks(self, *, asset_id: str, user_id: str, tasks: list[str]) -> list[str]:
        asset = self.state.assets.get(asset_id)
        if asset is None:
            raise LookupError(f"no asset {asset_id}")
        if not self.state.is_business_scoped(user_id):
            raise LookupError(f"no person or system user {user_id}")
        bad = [task for task in tasks if task not in TASKS[asset.type]]
        if bad or not tasks:
            raise errors.enum_error("tasks", TASKS[asset.type])
        expanded = expand_tasks(asset.type, set(tasks))
        self.state.set_tasks(asset_id, user_id, expanded)
        return list(expanded)

    def revoke_tasks(self, *, asset_id: str, user_id: str) -> None:
        if asset_id not in self.state.assets:
            raise LookupError(f"no asset {asset_id}")
        self.state.revoke_tasks(asset_id, user_id)

    def add_partner(self, *, name: str, relation: str = "agency") -> str:
        return self.state.add_partner(name=name, relation=relation, now=self.now()).id

    def remove_partner(self, partner_id: str) -> None:
        if partner_id not in self.state.partners:
            raise LookupError(f"no partner {partner_id}")
        self.state.remove_partner(partner_id)

    # ----------------------------------------------------------------- partner businesses

    def add_partner_person(
        self, *, partner_id: str, name: str, email: str, role: str = "EMPLOYEE"
    ) -> str:
        """A person with a seat in a partner business; returns their id there."""
        self._partner(partner_id)
        person = PartnerPersonRecord(
            self.state.new_id(), partner_id, name, email, role, int(self.now())
        )
        self.state.partner_people[person.id] = person
        return person.id

    def assign_partner_person(self, *, asset_id: str, user_id: str, tasks: list[str]) -> None:
        """The partner gives one of its people tasks on one of our assets it was given."""
        asset = self.state.assets.get(asset_id)
        person = self.state.partner_people.get(user_id)
        if asset is None or person is None:
            raise LookupError(f"no asset {asset_id} or partner person {user_id}")
        if person.partner_id not in self.state.partner_access.get(asset_id, {}):
            raise LookupError(f"asset {asset_id} is not shared with partner {person.partner_id}")
        expanded = expand_tasks(asset.type, set(tasks))
        self.state.partner_asset_users.setdefault(asset_id, {})[user_id] = expanded

    def make_partner_token(
        self, partner_id: str, *, expires_at: int = 0, user_type: str = "SYSTEM_USER"
    ) -> str:
        """A token of the partner business's first system user (made if it has none), for the
        partner's own app; ``user_type="USER"`` gives one of its people's tokens instead."""
        self._partner(partner_id)
        if user_type == "USER":
            holder = next(
                p.id for p in self.state.partner_people.values() if p.partner_id == partner_id
            )
        else:
            found = [
                s for s in self.state.partner_system_users.values() if s.partner_id == partner_id
            ]
            if not found:
                user = PartnerSystemUserRecord(
                    self.state.new_id(), partner_id, "Bastion access", "ADMIN", int(self.now())
                )
                self.state.partner_system_users[user.id] = user
                found = [user]
            holder = found[0].id
        token = mint_token(self._rng)
        self.state.tokens[token] = TokenRecord(
            token=token,
            user_id=holder,
            user_type=user_type,
            app_id=f"partner-app-{partner_id}",
            business_id=partner_id,
            scopes=list(REQUIRED_PERMISSIONS),
            issued_at=int(self.now()),
            expires_at=int(expires_at),
        )
        return token

    def partner_tokens(self) -> dict[str, str]:
        """Each partner's first never-expiring, valid system-user token."""
        found: dict[str, str] = {}
        for record in self.state.tokens.values():
            if (
                record.business_id in self.state.partners
                and record.user_type == "SYSTEM_USER"
                and record.valid
                and not record.expires_at
            ):
                found.setdefault(record.business_id, record.token)
        return found

    def _partner(self, partner_id: str) -> None:
        if partner_id not in self.state.partners:
            raise LookupError(f"no partner {partner_id}")

    def _person(self, user_id: str) -> None:
        if user_id not in self.state.people:
            raise LookupError(f"no person {user_id}")
