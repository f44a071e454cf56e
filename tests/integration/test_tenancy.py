import pytest
from sqlalchemy.orm import Session

from bastion.actions.actors import Actor
from bastion.actions.users import create_admin
from bastion.errors import NotFound
from bastion.storage.models import User
from bastion.storage.tenancy import Tenant
from tests.factories import make_workspace


def test_a_workspace_never_reads_or_changes_another_workspaces_rows(session: Session) -> None:
    a = make_workspace(session, "alpha")
    b = make_workspace(session, "beta")
    alice, _ = create_admin(
        session, workspace_id=a.id, email="alice@alpha.test", name="Alice", actor=Actor.cli()
    )
    bob, _ = create_admin(
        session, workspace_id=b.id, email="bob@beta.test", name="Bob", actor=Actor.cli()
    )
    as_a = Tenant(session, a.id)

    assert [u.email for u in as_a.all(User)] == ["alice@alpha.test"]
    assert as_a.find(User, User.email_key == "bob@beta.test") is None
    with pytest.raises(NotFound):
        as_a.get(User, bob.id)
    with pytest.raises(NotFound):
        as_a.delete(bob)
    with pytest.raises(NotFound):
        as_a.add(User(workspace_id=b.id, user_name="x", user_name_key="x", source="local"))
    assert as_a.get(User, alice.id) is alice
    assert Tenant(session, b.id).get(User, bob.id).email == "bob@beta.test"


def test_a_new_row_is_put_in_the_scoped_workspace(session: Session) -> None:
    a = make_workspace(session, "alpha")
    user = Tenant(session, a.id).add(
        User(user_name="c@alpha.test", user_name_key="c@alpha.test", source="local")
    )
    session.flush()
    assert user.workspace_id == a.id
