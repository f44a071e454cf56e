"""The one way to read or change tenant rows: through a ``Tenant`` bound to a workspace.

``Tenant(session, workspace_id)`` adds the workspace filter to every query it builds and refuses
to load, add or delete a row of another workspace, so code that goes through it cannot cross a
tenant boundary by forgetting a WHERE clause. Another workspace's row reads as "not found", never
as "forbidden", so ids of other tenants are not even confirmed to exist.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from bastion.errors import NotFound
from bastion.storage.models.base import TenantMixin

T = TypeVar("T", bound=TenantMixin)


class Tenant:
    def __init__(self, session: Session, workspace_id: int) -> None:
        self.session = session
        self.workspace_id = workspace_id

    def select(self, model: type[T], *criteria: Any) -> Select[T]:
        """``SELECT model WHERE workspace_id = this workspace AND criteria``."""
        return select(model).where(model.workspace_id == self.workspace_id, *criteria)

    def get(self, model: type[T], row_id: Any) -> T:
        row = self.session.get(model, row_id)
        if row is None or row.workspace_id != self.workspace_id:
            raise NotFound(f"{model.__name__} {row_id} not found")
        return row

    def find(self, model: type[T], *criteria: Any) -> T | None:
        return self.session.scalars(self.select(model, *criteria).limit(1)).first()

    def all(self, model: type[T], *criteria: Any) -> list[T]:
        return list(self.session.scalars(self.select(model, *criteria)))

    def add(self, row: T) -> T:
        if getattr(row, "workspace_id", None) is None:
            row.workspace_id = self.workspace_id
        elif row.workspace_id != self.workspace_id:
            raise NotFound(f"{type(row).__name__} belongs to another workspace")
        self.session.add(row)
        return row

    def delete(self, row: T) -> None:
        if row.workspace_id != self.workspace_id:
            raise NotFound(f"{type(row).__name__} not found")
        self.session.delete(row)
