"""The ``fields=`` mini-language: nested expansion and ``.modifier(arg)`` calls.

``id,name,assigned_users.business(123).limit(5){id,tasks},owner_business{id}`` parses into a
tree of ``FieldSpec``. Syntax errors use Meta's code 2500 and its "Syntax error ... at character"
wording. ``format_fields`` writes a tree back, for the ``next`` URLs of nested edges.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bastion.connectors.meta.simulator.errors import GraphError


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    modifiers: dict[str, str] = field(default_factory=dict)
    children: tuple[FieldSpec, ...] | None = None


def _syntax_error(text: str, position: int, expected: str) -> GraphError:
    found = repr(text[position]) if position < len(text) else "end of string"
    return GraphError(
        f'Syntax error "Expected {expected} instead of {found}." at character {position}: {text}',
        2500,
    )


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = "".join(text.split())
        self.pos = 0

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expect(self, char: str) -> None:
        if self.peek() != char:
            raise _syntax_error(self.text, self.pos, repr(char))
        self.pos += 1

    def name(self) -> str:
        start = self.pos
        while self.pos < len(self.text) and (
            self.text[self.pos].isalnum() or self.text[self.pos] == "_"
        ):
            self.pos += 1
        if start == self.pos:
            raise _syntax_error(self.text, self.pos, "a field name")
        return self.text[start : self.pos]

    def argument(self) -> str:
        self.expect("(")
        depth, start = 1, self.pos
        while self.pos < len(self.text):
            char = self.text[self.pos]
            depth += 1 if char == "(" else -1 if char == ")" else 0
            if depth == 0:
                value = self.text[start : self.pos]
                self.pos += 1
                return value
            self.pos += 1
        raise _syntax_error(self.text, self.pos, "')'")

    def spec(self) -> FieldSpec:
        name = self.name()
        modifiers: dict[str, str] = {}
        while self.peek() == ".":
            self.pos += 1
            modifier = self.name()
            modifiers[modifier] = self.argument()
        children = None
        if self.peek() == "{":
            self.pos += 1
            children = self.list(closing="}")
            self.expect("}")
        return FieldSpec(name, modifiers, children)

    def list(self, closing: str) -> tuple[FieldSpec, ...]:
        specs = [self.spec()]
        while self.peek() == ",":
            self.pos += 1
            if self.peek() in ("", closing):
                break  # a trailing comma is tolerated, as Graph does
            specs.append(self.spec())
        return tuple(specs)


def parse_fields(text: str) -> tuple[FieldSpec, ...]:
    """Parse a ``fields`` parameter; an empty string means "default fields" (empty tuple)."""
    parser = _Parser(text)
    if not parser.text:
        return ()
    specs = parser.list(closing="")
    if parser.pos != len(parser.text):
        raise _syntax_error(parser.text, parser.pos, "end of string")
    return specs


def format_fields(specs: tuple[FieldSpec, ...]) -> str:
    parts = []
    for spec in specs:
        text = spec.name + "".join(f".{key}({value})" for key, value in spec.modifiers.items())
        if spec.children is not None:
            text += "{" + format_fields(spec.children) + "}"
        parts.append(text)
    return ",".join(parts)
