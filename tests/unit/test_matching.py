from bastion.matching import (
    DirectoryIndex,
    Identity,
    MatchingOptions,
    MatchRule,
    Person,
    SuggestionIndex,
    match_accounts,
)

PEOPLE = [
    Person(1, "Ana.Lopez@acme.com", ("ana@acme.io",), "Ana López", active=True),
    Person(2, "bob@acme.com", (), "Bob Stone", active=True),
    Person(3, "carol@gmail.com", (), "Carol Diaz", active=False),
    Person(4, "dan@acme.com", (), "Dan Wu", active=False),
    Person(5, "dan@acme.com", (), "Dan Wu", active=True),
    Person(6, "eve@acme.com", (), "Eve Adams", active=True),
    Person(7, "eve@acme.com", (), "Eve Adams", active=True),
]


def match(email: str | None, manual: int | None = None, **options: bool):  # type: ignore[no-untyped-def]
    index = DirectoryIndex(PEOPLE, MatchingOptions(**options))
    return index.match(Identity(100, email, "x", manual))


def test_primary_email_matches_whatever_its_case_and_spaces() -> None:
    result = match("  ana.lopez@ACME.com ")
    assert result is not None
    assert (result.user_id, result.rule, result.confidence) == (1, MatchRule.PRIMARY_EMAIL, 1.0)


def test_a_secondary_email_matches_with_lower_confidence() -> None:
    result = match("ANA@acme.io")
    assert result is not None
    assert (result.user_id, result.rule) == (1, MatchRule.SECONDARY_EMAIL)
    assert result.confidence < 1.0


def test_plus_addressing_and_googlemail_match_as_normalized_email() -> None:
    result = match("carol+ads@googlemail.com")
    assert result is not None
    assert (result.user_id, result.rule) == (3, MatchRule.NORMALIZED_EMAIL)


def test_each_normalization_is_a_setting() -> None:
    assert match("carol+ads@gmail.com", strip_plus_addressing=False) is None
    assert match("carol@googlemail.com", fold_googlemail=False) is None


def test_a_manual_link_always_wins() -> None:
    result = match("bob@acme.com", manual=6)
    assert result is not None
    assert (result.user_id, result.rule) == (6, MatchRule.MANUAL)


def test_a_rehired_person_matches_their_active_record() -> None:
    result = match("dan@acme.com")
    assert result is not None
    assert result.user_id == 5


def test_an_ambiguous_email_links_nobody() -> None:
    assert match("eve@acme.com") is None


def test_no_email_and_unknown_emails_stay_unmatched() -> None:
    assert match(None) is None
    assert match("stranger@other.com") is None


def test_fuzzy_similarity_never_links_but_suggests() -> None:
    index = DirectoryIndex(PEOPLE)
    identity = Identity(100, "ana.lopes@agency.com", "Ana Lopes")
    assert match_accounts([identity], index) == {100: None}
    suggestions = SuggestionIndex(PEOPLE).suggest(identity)
    assert suggestions[0].user_id == 1
    assert "alike" in suggestions[0].reason
    assert len(suggestions) <= 3
    assert SuggestionIndex(PEOPLE).suggest(Identity(101, None, "Zzyzx Qwv")) == []
