"""Tie app accounts to directory people. Pure functions over typed records.

Rules, strongest first; the first rule that finds exactly one person wins and is recorded on the
account with its name and confidence:

1. ``manual``: an admin linked the account by hand. Always wins and survives every check.
2. ``primary_email``: the account's e-mail equals a person's primary e-mail (trimmed, any case).
3. ``secondary_email``: it equals another e-mail or alias of the person.
4. ``normalized_email``: equal once plus-addressing is dropped and googlemail.com is read as
   gmail.com (each a setting).

When a rule finds several people, an active one is preferred (a re-hired person's old,
deprovisioned record must not win); if that still leaves several, the rule is ambiguous and the
next rule is tried. Fuzzy similarity never links anything by itself: it only ranks the
suggestions an admin sees in the match dialog.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from rapidfuzz import fuzz, process, utils


class MatchRule(StrEnum):
    MANUAL = "manual"
    PRIMARY_EMAIL = "primary_email"
    SECONDARY_EMAIL = "secondary_email"
    NORMALIZED_EMAIL = "normalized_email"


CONFIDENCE = {
    MatchRule.MANUAL: 1.0,
    MatchRule.PRIMARY_EMAIL: 1.0,
    MatchRule.SECONDARY_EMAIL: 0.95,
    MatchRule.NORMALIZED_EMAIL: 0.9,
}


@dataclass(frozen=True)
class Person:
    """A directory person as matching sees them."""

    user_id: int
    email: str | None
    other_emails: tuple[str, ...]
    name: str
    active: bool


@dataclass(frozen=True)
class Identity:
    """An app account as matching sees it; ``manual_user_id`` is a link an admin made."""

    account_id: int
    email: str | None
    name: str
    manual_user_id: int | None = None


@dataclass(frozen=True)
class Match:
    user_id: int
    rule: MatchRule
    confidence: float


@dataclass(frozen=True)
class MatchingOptions:
    strip_plus_addressing: bool = True
    fold_googlemail: bool = True


@dataclass(frozen=True)
class Suggestion:
    user_id: int
    score: float
    reason: str


def email_key(email: str | None) -> str | None:
    if not email:
        return None
    key = email.strip().lower()
    return key or None


def normalize_email(email: str | None, options: MatchingOptions) -> str | None:
    key = email_key(email)
    if key is None or "@" not in key:
        return key
    local, _, domain = key.rpartition("@")
    if options.strip_plus_addressing:
        local = local.split("+", 1)[0]
    if options.fold_googlemail and domain == "googlemail.com":
        domain = "gmail.com"
    return f"{local}@{domain}"


class DirectoryIndex:
    """The directory indexed by every e-mail form the rules compare, built once per check."""

    def __init__(self, people: Iterable[Person], options: MatchingOptions | None = None) -> None:
        self.options = options or MatchingOptions()
        self.people: dict[int, Person] = {}
        self._primary: dict[str, list[Person]] = defaultdict(list)
        self._secondary: dict[str, list[Person]] = defaultdict(list)
        self._normalized: dict[str, list[Person]] = defaultdict(list)
        for person in people:
            self.people[person.user_id] = person
            primary = email_key(person.email)
            if primary:
                self._primary[primary].append(person)
            forms: set[str] = set()
            for other in person.other_emails:
                key = email_key(other)
                if key and key != primary:
                    self._secondary[key].append(person)
            for address in (person.email, *person.other_emails):
                normalized = normalize_email(address, self.options)
                if normalized and normalized not in forms:
                    forms.add(normalized)
                    self._normalized[normalized].append(person)

    def match(self, identity: Identity) -> Match | None:
        if identity.manual_user_id is not None and identity.manual_user_id in self.people:
            return Match(identity.manual_user_id, MatchRule.MANUAL, CONFIDENCE[MatchRule.MANUAL])
        key = email_key(identity.email)
        if key is None:
            return None
        lookups = (
            (MatchRule.PRIMARY_EMAIL, self._primary, key),
            (MatchRule.SECONDARY_EMAIL, self._secondary, key),
            (MatchRule.NORMALIZED_EMAIL, self._normalized, normalize_email(key, self.options)),
        )
        for rule, table, lookup in lookups:
            person = _single(table.get(lookup, ())) if lookup else None
            if person is not None:
                return Match(person.user_id, rule, CONFIDENCE[rule])
        return None


def _single(candidates: Sequence[Person]) -> Person | None:
    if len(candidates) == 1:
        return candidates[0]
    active = [p for p in candidates if p.active]
    return active[0] if len(active) == 1 else None


def match_accounts(
    identities: Iterable[Identity], index: DirectoryIndex
) -> dict[int, Match | None]:
    """The match of every account (``None`` = unmatched), in one pass: O(accounts)."""
    return {identity.account_id: index.match(identity) for identity in identities}


class SuggestionIndex:
    """Fuzzy look-up of people by name and e-mail local part, for the match dialog."""

    MIN_SCORE = 60.0

    def __init__(self, people: Iterable[Person]) -> None:
        self._ids: list[int] = []
        self._names: list[str] = []
        self._locals: list[str] = []
        for person in people:
            self._ids.append(person.user_id)
            self._names.append(utils.default_process(person.name))
            local = (email_key(person.email) or "").partition("@")[0]
            self._locals.append(utils.default_process(local.replace(".", " ")))

    def suggest(self, identity: Identity, limit: int = 3) -> list[Suggestion]:
        best: dict[int, Suggestion] = {}

        def consider(query: str, choices: list[str], what: str) -> None:
            if not query:
                return
            for _choice, score, position in process.extract(
                query,
                choices,
                scorer=fuzz.token_sort_ratio,
                processor=None,
                limit=limit * 3,
                score_cutoff=self.MIN_SCORE,
            ):
                user_id = self._ids[position]
                if user_id not in best or best[user_id].score < score:
                    best[user_id] = Suggestion(
                        user_id, round(score, 1), f"{what} {score:.0f}% alike"
                    )

        consider(utils.default_process(identity.name), self._names, "name")
        local = (email_key(identity.email) or "").partition("@")[0].replace(".", " ")
        consider(utils.default_process(local), self._locals, "e-mail local part")
        return sorted(best.values(), key=lambda s: (-s.score, s.user_id))[:limit]
