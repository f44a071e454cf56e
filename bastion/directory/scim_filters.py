"""SCIM filters as SQL, for the filters identity providers actually send.

Okta and Entra only send ``eq`` joined by ``and``: ``userName eq``, ``externalId eq``,
``emails[type eq "work"].value eq`` and ``displayName eq`` on groups. Those become WHERE clauses
on indexed columns. Any other filter returns ``None`` and the storage falls back to evaluating
it with ``ScimFilter.match`` over the workspace's rows, which is correct but slow on a large
directory.
"""

from __future__ import annotations

from typing import Any

from scim2_models.path import (
    CompareOperator,
    Comparison,
    FilterVisitor,
    LogicalExpr,
    LogicalOperator,
    Not,
    Present,
    ValuePath,
)
from sqlalchemy import ColumnElement, and_, false, func, or_, select

from bastion.directory.scim_mapping import parse_id
from bastion.storage.models import Team, User, UserEmail
from bastion.storage.models.enums import UserStatus

Clause = ColumnElement[bool]
_USER_URN = "urn:ietf:params:scim:schemas:core:2.0:user"
_GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:group"


class _Untranslatable(Exception):
    """The filter uses something the SQL translation does not cover."""


def _attribute(comparison: Comparison, urn: str) -> str:
    path = comparison.attr_path
    if path.uri is not None and path.uri.lower() != urn:
        raise _Untranslatable
    name = path.attr.lower()
    return f"{name}.{path.sub_attr.lower()}" if path.sub_attr else name


def _eq_string(comparison: Comparison) -> str:
    if comparison.op != CompareOperator.eq or not isinstance(comparison.value, str):
        raise _Untranslatable
    return comparison.value


def _id_clause(column: Any, value: str) -> Clause:
    row_id = parse_id(value)
    clause: Clause = false() if row_id is None else column == row_id
    return clause


class _UserFilter(FilterVisitor[Clause]):
    def __init__(self, workspace_id: int) -> None:
        self.workspace_id = workspace_id

    def visit_logical_expr(self, node: LogicalExpr) -> Clause:
        terms = [self.visit(term) for term in node.terms]
        return and_(*terms) if node.op == LogicalOperator.and_ else or_(*terms)

    def visit_comparison(self, node: Comparison) -> Clause:
        attribute = _attribute(node, _USER_URN)
        if attribute == "active" and node.op == CompareOperator.eq:
            if not isinstance(node.value, bool):
                raise _Untranslatable
            deprovisioned = User.status == UserStatus.DEPROVISIONED
            return ~deprovisioned if node.value else deprovisioned
        value = _eq_string(node)
        if attribute == "username":
            return User.user_name_key == value.lower()
        if attribute == "externalid":
            return User.external_id == value
        if attribute == "id":
            return _id_clause(User.id, value)
        if attribute == "emails.value" or attribute == "emails":
            return self._email(value, None)
        raise _Untranslatable

    def visit_value_path(self, node: ValuePath) -> Clause:
        if node.attr_path.attr.lower() != "emails" or node.sub_attr is not None:
            raise _Untranslatable
        value: str | None = None
        email_type: str | None = None
        terms = (
            node.val_filter.terms
            if isinstance(node.val_filter, LogicalExpr)
            and node.val_filter.op == LogicalOperator.and_
            else (node.val_filter,)
        )
        for term in terms:
            if not isinstance(term, Comparison) or term.attr_path.sub_attr is not None:
                raise _Untranslatable
            name = term.attr_path.attr.lower()
            if name == "value" and value is None:
                value = _eq_string(term)
            elif name == "type" and email_type is None:
                email_type = _eq_string(term)
            else:
                raise _Untranslatable
        if value is None:
            raise _Untranslatable
        return self._email(value, email_type)

    def _email(self, value: str, email_type: str | None) -> Clause:
        # The workspace too, so the lookup uses the (workspace_id, email_key) index.
        criteria = [
            UserEmail.workspace_id == self.workspace_id,
            UserEmail.email_key == value.strip().lower(),
        ]
        if email_type is not None:
            criteria.append(func.lower(UserEmail.type) == email_type.lower())
        # An IN over the indexed e-mail key, not a correlated EXISTS (a scan of every user).
        return User.id.in_(select(UserEmail.user_id).where(*criteria))

    def visit_present(self, node: Present) -> Clause:
        raise _Untranslatable

    def visit_not(self, node: Not) -> Clause:
        raise _Untranslatable


class _GroupFilter(FilterVisitor[Clause]):
    def visit_logical_expr(self, node: LogicalExpr) -> Clause:
        terms = [self.visit(term) for term in node.terms]
        return and_(*terms) if node.op == LogicalOperator.and_ else or_(*terms)

    def visit_comparison(self, node: Comparison) -> Clause:
        attribute = _attribute(node, _GROUP_URN)
        value = _eq_string(node)
        if attribute == "displayname":
            return Team.display_name_key == value.lower()
        if attribute == "externalid":
            return Team.external_id == value
        if attribute == "id":
            return _id_clause(Team.id, value)
        raise _Untranslatable

    def visit_value_path(self, node: ValuePath) -> Clause:
        raise _Untranslatable

    def visit_present(self, node: Present) -> Clause:
        raise _Untranslatable

    def visit_not(self, node: Not) -> Clause:
        raise _Untranslatable


def user_filter_clause(ast: Any, workspace_id: int) -> Clause | None:
    """The WHERE clause of a User filter, or None when it must be evaluated in Python."""
    try:
        return _UserFilter(workspace_id).visit(ast)
    except _Untranslatable:
        return None


def group_filter_clause(ast: Any) -> Clause | None:
    """The WHERE clause of a Group filter, or None when it must be evaluated in Python."""
    try:
        return _GroupFilter().visit(ast)
    except _Untranslatable:
        return None
