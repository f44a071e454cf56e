"""Bastion's own errors, the ones every interface knows how to show.

    BastionError
    ├── ConfigurationError   a setting is missing or wrong; start-up stops
    ├── InvalidInput         a field of a request is wrong (names the field)
    ├── NotFound             no such object in this workspace
    ├── Conflict             the object exists already, or its state forbids the change
    ├── PermissionDenied     the caller's role does not allow it (names the role needed)
    └── IntegrityError       stored data failed a check (tampered audit log, undecryptable secret)

Connectors map their outside failures into their own subclasses (see connectors/).
Messages are written for a person and never contain a secret.
"""

from __future__ import annotations


class BastionError(Exception):
    """Base of every error Bastion raises on purpose."""

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigurationError(BastionError):
    code = "configuration"


class InvalidInput(BastionError):
    code = "invalid_input"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class NotFound(BastionError):
    code = "not_found"


class Conflict(BastionError):
    code = "conflict"


class PermissionDenied(BastionError):
    code = "permission_denied"


class IntegrityError(BastionError):
    code = "integrity"
