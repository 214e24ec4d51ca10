"""kfp's triggerPolicy conditions (the CEL subset the kfp v2 compiler emits) -> `Condition`.

kfp writes `inputs.parameter_values['pipelinechannel--x'] == 'a'`, optionally wrapped in a
cast (`int(...)`, `double(...)`), combined with `&&`, `||` and `!( ... )` for Elif/Else. That
grammar is small enough for a hand-written recursive-descent parser; anything else (CEL
functions, arithmetic, member access) is reported with the position it stopped at.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from flowyard.errors import InvalidInput
from flowyard.resources.pipeline import Condition, Ref

_TOKEN = re.compile(r"""
    \s*(?:
      (?P<channel>inputs\.parameter_values\[\s*(?P<q>['"])(?P<name>[^'"]+)(?P=q)\s*\])
    | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
    | (?P<number>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
    | (?P<op>==|!=|<=|>=|<|>|&&|\|\||!|\(|\))
    | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    )""", re.VERBOSE)
_CASTS = {"int", "double", "float", "string", "bool", "uint"}
_OPS = {"==", "!=", "<", "<=", ">", ">="}

ResolveChannel = Callable[[str], Ref]


class _Parser:
    def __init__(self, text: str, resolve: ResolveChannel, where: str) -> None:
        self.text = text
        self.resolve = resolve
        self.where = where
        self.tokens: list[tuple[str, str, int]] = []
        pos = 0
        while pos < len(text):
            if text[pos].isspace():
                pos += 1
                continue
            match = _TOKEN.match(text, pos)
            if match is None or match.end() == pos:
                self.fail(pos, "unexpected text")
            assert match is not None
            kind = match.lastgroup or ""
            if match.group("channel"):
                kind, value = "channel", match.group("name")
            else:
                value = match.group(kind)
            self.tokens.append((kind, value, match.start(kind)))
            pos = match.end()
        self.at = 0

    def fail(self, pos: int, what: str) -> None:
        raise InvalidInput(
            f"{self.where}: condition {self.text!r}: {what} at column {pos + 1} "
            f"({self.text[pos:pos + 20]!r})",
            hint="Flowyard reads the conditions the kfp v2 compiler writes for dsl.If/Elif/Else "
                 "(comparisons of pipeline channels and literals joined by &&, ||, !)")

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self) -> tuple[str, str, int]:
        token = self.peek()
        if token is None:
            self.fail(len(self.text), "unexpected end")
        assert token is not None
        self.at += 1
        return token

    def parse(self) -> Condition:
        cond = self.or_()
        token = self.peek()
        if token is not None:
            self.fail(token[2], f"unexpected {token[1]!r}")
        return cond

    def or_(self) -> Condition:
        parts = [self.and_()]
        while (token := self.peek()) is not None and token[1] == "||":
            self.take()
            parts.append(self.and_())
        return parts[0] if len(parts) == 1 else Condition(any=parts)

    def and_(self) -> Condition:
        parts = [self.unary()]
        while (token := self.peek()) is not None and token[1] == "&&":
            self.take()
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else Condition(all=parts)

    def unary(self) -> Condition:
        token = self.peek()
        if token is not None and token[1] == "!":
            self.take()
            return Condition.model_validate({"not": self.unary()})
        if token is not None and token[1] == "(" and self._group_is_condition():
            self.take()
            inner = self.or_()
            self._expect(")")
            return inner
        left = self.operand()
        op = self.take()
        if op[0] != "op" or op[1] not in _OPS:
            self.fail(op[2], "expected a comparison (==, !=, <, <=, >, >=)")
        right = self.operand()
        return Condition(op=op[1], left=left, right=right)

    def _group_is_condition(self) -> bool:
        # '(' starts a nested condition unless it is the parenthesis of a cast.
        depth, i = 0, self.at
        while i < len(self.tokens):
            value = self.tokens[i][1]
            if value == "(":
                depth += 1
            elif value == ")":
                depth -= 1
                if depth == 0:
                    return False
            elif depth == 1 and value in _OPS | {"&&", "||", "!"}:
                return True
            i += 1
        return False

    def _expect(self, value: str) -> None:
        token = self.take()
        if token[1] != value:
            self.fail(token[2], f"expected {value!r}")

    def operand(self) -> Ref:
        kind, value, pos = self.take()
        if kind == "channel":
            return self.resolve(value)
        if kind == "string":
            return Ref(value=_unquote(value))
        if kind == "number":
            number = float(value)
            return Ref(value=int(number) if number.is_integer() and "." not in value
                       else number)
        if kind == "word" and value in ("true", "false"):
            return Ref(value=value == "true")
        if kind == "word" and value == "null":
            return Ref(value=None)
        if kind == "word" and value in _CASTS:
            # Flowyard values keep their JSON type, so kfp's casts are not needed.
            self._expect("(")
            inner = self.operand()
            self._expect(")")
            return inner
        if kind == "op" and value == "(":
            inner = self.operand()
            self._expect(")")
            return inner
        self.fail(pos, f"unsupported operand {value!r}")
        raise AssertionError  # pragma: no cover


def _unquote(text: str) -> Any:
    if text.startswith("'"):
        text = '"' + text[1:-1].replace('\\"', '"').replace('"', '\\"') + '"'
        text = text.replace("\\'", "'")
    return json.loads(text)


def parse_condition(text: str, resolve: ResolveChannel, where: str) -> Condition:
    """The Condition for a kfp triggerPolicy condition; `resolve` maps a channel to a Ref."""
    return _Parser(text, resolve, where).parse()
