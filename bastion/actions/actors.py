"""Who does something: a person, a token, or Bastion itself. Every action takes one."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    label: str
    user_id: int | None = None
    request_id: str | None = None

    @classmethod
    def user(cls, user_id: int, request_id: str | None = None) -> Actor:
        return cls(f"user:{user_id}", user_id, request_id)

    @classmethod
    def system(cls, what: str = "bastion") -> Actor:
        return cls(f"system:{what}")

    @classmethod
    def cli(cls) -> Actor:
        return cls("cli")
