"""The apps list, the connect-app wizard, an app's Settings tab and Check for updates.

Routes:
    GET  /apps                          one card per connected app, with a menu of what the
                                        viewer may do (Settings, View members, Check for updates)
    GET  /apps/connect                  step 1: pick an app from the catalog
    GET  /apps/connect/meta_business    step 2: label, token, business id, app id, App secret
                                        (optional), login method
    POST /apps/connect/meta_business    validate; refused → each problem; accepted → first check
    GET  /apps/{app_id}                 → the Members tab
    GET  /apps/{app_id}/settings        fields, token "set on … by …" and its expiry, App secret
                                        set or not, verification status, connection warnings,
                                        schedule, safeguard, status
    POST /apps/{app_id}/settings        save the settings (a new token or App secret is
                                        validated first)
    POST /apps/{app_id}/disconnect      stop managing the app (nothing changes in Meta)
    POST /apps/{app_id}/check           queue a check for updates; answers with the progress box
                                        (a plain form, as the apps list's menu, goes to Settings,
                                        which shows it)
    GET  /apps/{app_id}/progress        the progress box (htmx polls it while a check runs)
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from bastion.actions.apps import (
    AppChanges,
    ConnectionRefused,
    ConnectRequest,
    connect_app,
    disconnect_app,
    update_app,
)
from bastion.actions.permissions import (
    CHECK,
    MANAGE_APP,
    MANAGE_MEMBERS,
    VIEW_APP,
    VIEW_DETAILS,
    VIEW_PEOPLE,
    require,
)
from bastion.actions.profiles import redirect_uri
from bastion.connectors.base import ConnectorError
from bastion.errors import Conflict, InvalidInput
from bastion.queries import list_apps
from bastion.storage.models.enums import RunState, RunTrigger
from bastion.web.context import (
    DB,
    Me,
    PageRoute,
    allowed,
    app_for,
    app_page,
    is_htmx,
    jobs_of,
    redirect,
    render,
    runtime_of,
)
from bastion.web.reads import app_summaries, latest_run, user_names

router = APIRouter(route_class=PageRoute)

CATALOG = [
    (
        "meta_business",
        "Meta Business Manager",
        "People, Pages, ad accounts, catalogs, pixels, "
        "Instagram assets and partners of one business portfolio.",
        True,
    ),
    ("tiktok", "TikTok Business Center", "Coming later.", False),
    ("linkedin", "LinkedIn Campaign Manager", "Coming later.", False),
]

# The app card's menu: each item shown only to whoever may do it.
APP_MENU = (("settings", MANAGE_APP), ("members", VIEW_PEOPLE), ("check", CHECK))


@router.get("/apps")
def apps_list(request: Request, db: DB, me: Me) -> Response:
    apps = [a for a in list_apps(db, me.workspace_id) if allowed(db, me, a, VIEW_APP)]
    return render(
        request,
        "apps/list.html",
        {
            "section": "apps",
            "summaries": app_summaries(db, apps),
            # Counts of the whole app, the open report and operations are people's business.
            "sees_people": {a.id for a in apps if allowed(db, me, a, VIEW_PEOPLE)},
            "menus": {
                a.id: {item for item, read in APP_MENU if allowed(db, me, a, read)} for a in apps
            },
            "can_connect": me.is_admin,
        },
        me=me,
    )


@router.get("/apps/connect")
def connect_catalog(request: Request, db: DB, me: Me) -> Response:
    require(db, actor=me.actor, app=None, action="manage_directory")
    return render(request, "apps/catalog.html", {"section": "apps", "catalog": CATALOG}, me=me)


def _form_values(label: str, business_id: str, app_id: str, login_method: str) -> dict[str, str]:
    return {
        "label": label,
        "business_id": business_id,
        "app_id": app_id,
        "login_method": login_method or "sso",
    }


@router.get("/apps/connect/meta_business")
def connect_form(request: Request, db: DB, me: Me) -> Response:
    require(db, actor=me.actor, app=None, action="manage_directory")
    return render(
        request,
        "apps/connect.html",
        {"section": "apps", "values": _form_values("", "", "", "sso")},
        me=me,
    )


@router.post("/apps/connect/meta_business")
def connect_submit(
    request: Request,
    db: DB,
    me: Me,
    label: Annotated[str, Form()] = "",
    token: Annotated[str, Form()] = "",
    business_id: Annotated[str, Form()] = "",
    app_id: Annotated[str, Form()] = "",
    app_secret: Annotated[str, Form()] = "",
    login_method: Annotated[str, Form()] = "sso",
) -> Response:
    """Validate then connect; the token and the App secret are never echoed back."""
    require(db, actor=me.actor, app=None, action="manage_directory")
    runtime = runtime_of(request)
    values = _form_values(label, business_id, app_id, login_method)
    connect = ConnectRequest(
        kind="meta_business",
        label=label,
        token=token,
        settings={"business_id": business_id, "app_id": app_id},
        login_method=login_method,
        app_secret=app_secret or None,
    )
    try:
        app = connect_app(
            db,
            runtime.require_key_ring(),
            runtime.connector_options,
            workspace_id=me.workspace_id,
            request=connect,
            actor=me.actor,
        )
    except (InvalidInput, Conflict) as exc:
        db.rollback()
        field = exc.field if isinstance(exc, InvalidInput) else "business_id"
        return render(
            request,
            "apps/connect.html",
            {"section": "apps", "values": values, "field": field, "error": exc.message},
            status_code=400 if isinstance(exc, InvalidInput) else 409,
            me=me,
        )
    except ConnectionRefused as exc:
        db.rollback()
        return render(
            request,
            "apps/connect.html",
            {"section": "apps", "values": values, "check": exc.check},
            status_code=400,
            me=me,
        )
    except ConnectorError as exc:  # Meta unreachable or throttling: nothing was refused
        db.rollback()
        return render(
            request,
            "apps/connect.html",
            {"section": "apps", "values": values, "error": f"{exc.message} Try again later."},
            status_code=503,
            me=me,
        )
    db.commit()
    jobs_of(request).enqueue_check(
        workspace_id=me.workspace_id, app_id=app.id, trigger=RunTrigger.CONNECT, user_id=me.user.id
    )
    warned = " See the warnings below." if app.connection_warnings else ""
    return redirect(
        request,
        f"/apps/{app.id}/settings?after=0",
        f"{app.label} is connected. The first check for updates is running.{warned}",
    )


@router.get("/apps/{app_id}")
def app_home(app_id: int) -> Response:
    return RedirectResponse(f"/apps/{app_id}/members", status_code=303)


def _settings_context(request: Request, db: DB, me: Me, app_id: int) -> dict[str, object]:
    app = app_for(db, me, app_id)
    can_manage = allowed(db, me, app, MANAGE_APP)
    people = user_names(db, {app.token_set_by_id}) if can_manage else {}
    return {
        **app_page(db, me, app, "settings"),
        "section": "apps",
        "token_set_by": people.get(app.token_set_by_id or -1),
        "can_manage": can_manage,
        "can_check": allowed(db, me, app, CHECK),
        "can_members": allowed(db, me, app, MANAGE_MEMBERS),
        "run": latest_run(db, app.id),
        # Listed in the login app's settings, so people can connect their profiles.
        "login_redirect_uri": redirect_uri(runtime_of(request).settings.base_url),
    }


@router.get("/apps/{app_id}/settings")
def settings_tab(
    request: Request, db: DB, me: Me, app_id: int, after: int | None = None
) -> Response:
    context = _settings_context(request, db, me, app_id)
    context["after"] = after
    return render(request, "apps/settings.html", context, me=me)


@router.post("/apps/{app_id}/settings")
def settings_save(
    request: Request,
    db: DB,
    me: Me,
    app_id: int,
    label: Annotated[str, Form()] = "",
    schedule: Annotated[str, Form()] = "daily",
    check_time: Annotated[str, Form()] = "06:00",
    safeguard_threshold_percent: Annotated[str, Form()] = "20",
    login_method: Annotated[str, Form()] = "sso",
    token: Annotated[str, Form()] = "",
    app_secret: Annotated[str, Form()] = "",
    auto_cancel_invitations_days: Annotated[str, Form()] = "",
) -> Response:
    app = app_for(db, me, app_id, MANAGE_APP)
    runtime = runtime_of(request)
    try:
        minute = _minute_of_day(check_time) if schedule == "daily" else None
        try:
            threshold = int(safeguard_threshold_percent)
        except ValueError:
            raise InvalidInput("safeguard_threshold_percent", "must be a whole number") from None
        auto_cancel = auto_cancel_invitations_days.strip()
        if auto_cancel and not auto_cancel.isdigit():
            raise InvalidInput("auto_cancel_invitations_days", "must be a whole number of days")
        update_app(
            db,
            runtime.require_key_ring(),
            runtime.connector_options,
            workspace_id=me.workspace_id,
            app_id=app.id,
            changes=AppChanges(
                label=label,
                daily_check_minute=minute,
                on_demand_only=schedule != "daily",
                safeguard_threshold_percent=threshold,
                login_method=login_method,
                token=token.strip() or None,
                app_secret=app_secret.strip() or None,
                auto_cancel_invitations_days=int(auto_cancel) if auto_cancel else None,
                never_auto_cancel=not auto_cancel,
            ),
            actor=me.actor,
        )
    except (InvalidInput, ConnectionRefused, ConnectorError) as exc:
        db.rollback()
        context = _settings_context(request, db, me, app_id)
        context["error"] = exc.message
        context["after"] = None
        context["check"] = exc.check if isinstance(exc, ConnectionRefused) else None
        status = 503 if isinstance(exc, ConnectorError) else 400
        return render(request, "apps/settings.html", context, status_code=status, me=me)
    db.commit()
    return redirect(request, f"/apps/{app_id}/settings", "Settings saved.")


def _minute_of_day(value: str) -> int:
    hours, _, minutes = value.partition(":")
    try:
        minute = int(hours) * 60 + int(minutes or 0)
    except ValueError:
        raise InvalidInput("check_time", "use the form HH:MM (UTC)") from None
    if not 0 <= minute < 24 * 60:
        raise InvalidInput("check_time", "must be a time of day between 00:00 and 23:59")
    return minute


@router.post("/apps/{app_id}/disconnect")
def disconnect(request: Request, db: DB, me: Me, app_id: int) -> Response:
    app = app_for(db, me, app_id, MANAGE_APP)
    disconnect_app(db, workspace_id=me.workspace_id, app_id=app.id, actor=me.actor)
    db.commit()
    return redirect(request, "/apps", f"{app.label} is disconnected. Nothing changed in Meta.")


@router.post("/apps/{app_id}/check")
def check_now(request: Request, db: DB, me: Me, app_id: int) -> Response:
    app = app_for(db, me, app_id, CHECK)
    before = latest_run(db, app.id)
    if before is not None and before.state == RunState.RUNNING:
        after = before.id - 1
    else:
        jobs_of(request).enqueue_check(
            workspace_id=me.workspace_id,
            app_id=app.id,
            trigger=RunTrigger.MANUAL,
            user_id=me.user.id,
        )
        after = before.id if before else 0
    if not is_htmx(request):  # a plain form: the progress box is on the Settings tab
        return redirect(request, f"/apps/{app_id}/settings?after={after}")
    return _progress(request, db, me, app_id, after=after)


@router.get("/apps/{app_id}/progress")
def progress(request: Request, db: DB, me: Me, app_id: int, after: int = 0) -> Response:
    return _progress(request, db, me, app_id, after=after)


def _progress(request: Request, db: DB, me: Me, app_id: int, *, after: int) -> Response:
    """Queued (no newer run yet), running, or finished with its outcome; polling stops then."""
    app = app_for(db, me, app_id, VIEW_DETAILS)
    run = latest_run(db, app.id)
    current = run if run is not None and run.id > after else None
    return render(
        request,
        "apps/_progress.html",
        {
            "app": app,
            "run": current,
            "after": after,
            "sees_people": allowed(db, me, app, VIEW_PEOPLE),
        },
        me=me,
    )
