"""The web's forms fed bad input: a CSV upload with NUL characters, a field too long or invalid
lines, and a token or App secret of several lines in the connect and settings forms. Each answers
with what is wrong (the line and column, or the field), and the database is left as it was."""

from __future__ import annotations

import html

import httpx

from tests.checks.conftest import World
from tests.row_counts import database_state
from tests.web.web_support import csrf, post

HEADER = "email,name,external_id,status,secondary_emails,groups\n"


def _upload(client: httpx.Client, content: bytes) -> httpx.Response:
    return client.post(
        "/directory/import",
        data={"csrftoken": csrf(client)},
        files={"file": ("people.csv", content, "text/csv")},
    )


def _apply(client: httpx.Client, text: str, *, skip_invalid: bool = False) -> httpx.Response:
    form = {"csv_text": text, "file_name": "people.csv"}
    if skip_invalid:
        form["skip_invalid"] = "yes"
    return post(client, "/directory/import/apply", form)


def test_an_upload_with_nul_characters_is_refused_and_names_the_line(
    admin: httpx.Client, world: World
) -> None:
    before = database_state(world.runtime.engine)
    answer = _upload(admin, (HEADER + "new@northwind.test,Ne\x00w,n1,active,,\n").encode())
    assert answer.status_code == 400
    page = html.unescape(answer.text)
    assert "The file holds NUL characters" in page
    assert "line 2: name: must not contain NUL characters" in page
    assert "Skip the lines with errors" not in page
    applied = _apply(admin, HEADER + "new@northwind.test,Ne\x00w,n1,active,,\n", skip_invalid=True)
    assert applied.status_code == 303
    assert database_state(world.runtime.engine) == before


def test_a_field_too_long_stops_the_preview_and_the_import(
    admin: httpx.Client, world: World
) -> None:
    text = HEADER + "new@northwind.test,N,n1,active,,\n" + "x@northwind.test," + "L" * 1_000_000
    before = database_state(world.runtime.engine)
    page = html.unescape(_upload(admin, text.encode()).text)
    assert "line 3: field too long" in page
    assert "and the rest of the file cannot be read" in page
    assert "Skip the lines with errors" not in page
    applied = _apply(admin, text, skip_invalid=True)
    assert applied.status_code == 303
    assert "nothing was imported" in html.unescape(admin.get(applied.headers["location"]).text)
    assert database_state(world.runtime.engine) == before


def test_invalid_lines_are_named_without_the_people_in_them(
    admin: httpx.Client, world: World
) -> None:
    text = HEADER + "Private Person <not-an-address>,Private,n1,active,,\n"
    before = database_state(world.runtime.engine)
    page = html.unescape(_upload(admin, text.encode()).text)
    assert "line 2: email: is not an e-mail address" in page
    errors = page[page.index("cannot be imported") :]
    assert "Private" not in errors[: errors.index("</ul>")]
    assert _apply(admin, text).status_code == 303
    assert database_state(world.runtime.engine) == before


def test_a_token_or_app_secret_of_several_lines_is_refused_in_the_forms(
    admin: httpx.Client, world: World
) -> None:
    token = world.sim.token
    before = database_state(world.runtime.engine)
    connect = {
        "label": "Second Meta",
        "token": f"{token}\n{token}",
        "business_id": world.sim.business_id,
        "app_id": world.sim.app_id,
        "login_method": "sso",
    }
    answer = post(admin, "/apps/connect/meta_business", connect)
    assert answer.status_code == 400
    assert "token: holds more than one line" in html.unescape(answer.text)
    answer = post(
        admin, "/apps/connect/meta_business", connect | {"token": token, "app_secret": "a\nb"}
    )
    assert answer.status_code == 400
    assert "app_secret: holds more than one line" in html.unescape(answer.text)
    settings = {"label": "Renamed", "schedule": "daily", "check_time": "06:00"}
    answer = post(admin, f"/apps/{world.app_id}/settings", settings | {"token": f"{token}\nx"})
    assert answer.status_code == 400
    assert "token: holds more than one line" in html.unescape(answer.text)
    for response_text in (answer.text,):
        assert token not in response_text
    assert database_state(world.runtime.engine) == before
