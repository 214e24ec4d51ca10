"""Capture a component function's source and check that it is self-contained.

The source travels with the pipeline and is exec'd alone in the step's process, so every
name the body uses must be a builtin, a local, a parameter or imported inside the body
(kfp's rule). We check it here, at decoration time, with `symtable` (which knows Python's
scoping rules exactly) instead of letting the step fail with a NameError at run time.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import io
import symtable
import textwrap
import tokenize
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flowyard.errors import InvalidInput

# Names the exec'd module namespace provides besides builtins.
_MODULE_NAMES = frozenset({"__name__", "__doc__", "__file__", "__builtins__", "__spec__",
                           "__loader__", "__package__", "__annotations__"})


@dataclass(frozen=True, slots=True)
class Source:
    text: str          # dedented, decorators stripped
    file: str
    def_line: int      # line of `def` in `file`


def where(func: Callable[..., Any]) -> str:
    code = getattr(func, "__code__", None)
    if code is None:
        return "<unknown>"
    return f"{code.co_filename}:{code.co_firstlineno}"


def capture(func: Callable[..., Any]) -> Source:
    """The function's own source, dedented and without its decorators."""
    name = getattr(func, "__name__", repr(func))
    try:
        lines, start = inspect.getsourcelines(func)
        file = inspect.getsourcefile(func) or where(func)
    except (OSError, TypeError) as exc:
        raise InvalidInput(
            f"component {name!r}: cannot read its source ({exc})",
            hint="define components in a .py file (not in an interactive session or exec), "
                 "because the source travels with the pipeline",
        ) from exc
    text = _dedent(lines)
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        # e.g. a multi-line string less indented than the def defeats dedent.
        raise InvalidInput(f"{file}:{start + (exc.lineno or 1) - 1}: component {name!r}: its "
                           f"source does not parse on its own ({exc.msg})",
                           hint="indent multi-line strings inside the function at least as "
                                "deep as the `def`, or define it at module level") from exc
    node = tree.body[0] if tree.body else None
    if isinstance(node, ast.AsyncFunctionDef):
        raise InvalidInput(f"{file}:{start}: component {name!r} is `async def`; "
                           "components are plain functions")
    if not isinstance(node, ast.FunctionDef):
        raise InvalidInput(f"{file}:{start}: {name!r} is not a `def` function; components are "
                           "module-level or nested `def` functions (not lambdas)")
    body = "".join(text.splitlines(keepends=True)[node.lineno - 1:])
    return Source(text=body, file=file, def_line=start + node.lineno - 1)


def _dedent(lines: list[str]) -> str:
    """Remove the def's indentation, but never inside a multi-line string literal.

    textwrap.dedent would change such strings' content, or give up when a string line is
    less indented than the def (common for components nested in functions).
    """
    text = "".join(lines)
    first = lines[0] if lines else ""
    indent = first[:len(first) - len(first.lstrip(" \t"))]
    if not indent:
        return text
    protected: set[int] = set()
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.start[0] != tok.end[0]:
                protected.update(range(tok.start[0] + 1, tok.end[0] + 1))
    except (tokenize.TokenError, SyntaxError):
        return textwrap.dedent(text)
    out = []
    for number, line in enumerate(lines, start=1):
        if number not in protected and line.startswith(indent):
            line = line[len(indent):]
        elif number not in protected and not line.strip():
            line = line.lstrip(" \t")
        out.append(line)
    return "".join(out)


class _StripAnnotations(ast.NodeTransformer):
    """Annotations are never evaluated in the step (PEP 563 semantics): ignore their names."""

    def visit_arg(self, node: ast.arg) -> ast.arg:
        node.annotation = None
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        node.returns = None
        self.generic_visit(node)
        return node

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> ast.AST:
        node.returns = None
        self.generic_visit(node)
        return node

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST:
        if node.value is None:
            return ast.Pass()
        return ast.copy_location(ast.Assign(targets=[node.target], value=node.value), node)


def check_self_contained(func: Callable[..., Any], source: Source) -> None:
    """Raise InvalidInput naming the first global the function uses without importing it."""
    tree = _StripAnnotations().visit(ast.parse(source.text))
    ast.fix_missing_locations(tree)
    table = symtable.symtable(ast.unparse(tree), source.file, "exec")
    allowed = set(dir(builtins)) | _MODULE_NAMES | {func.__name__}
    assigned_globals = _assigned_globals(table)
    missing: list[str] = []
    # Top level of the snippet: names in default values, evaluated when the source is exec'd.
    for sym in table.get_symbols():
        if sym.is_referenced() and sym.get_name() not in allowed and not sym.is_assigned():
            missing.append(sym.get_name())
    for child in table.get_children():
        _collect(child, allowed | assigned_globals, missing)
    if not missing:
        return
    name = missing[0]
    line = _first_use(tree, name)
    at = f"{source.file}:{source.def_line + (line - 1 if line else 0)}"
    others = f" (also: {', '.join(sorted(set(missing[1:])))})" if len(set(missing)) > 1 else ""
    raise InvalidInput(
        f"{at}: component {func.__name__!r} uses the global name {name!r}{others}, which will "
        "not exist when the step runs: only the function's own source travels with the pipeline",
        hint=f"{_how_to_import(func, name)} inside the function body, or pass the value as "
             "a parameter",
    )


def _how_to_import(func: Callable[..., Any], name: str) -> str:
    """The import line that would bring `name` in, judged from what it is in the module."""
    value = getattr(func, "__globals__", {}).get(name)
    if isinstance(value, types.ModuleType):
        if value.__name__.rpartition(".")[2] == name:
            return f"write `import {value.__name__}`" if "." not in value.__name__ \
                else f"write `from {value.__name__.rpartition('.')[0]} import {name}`"
        return f"write `import {value.__name__} as {name}`"
    module = getattr(value, "__module__", None)
    if isinstance(module, str) and module not in ("__main__", getattr(func, "__module__", None)):
        return f"write `from {module} import {name}`"
    return f"import {name!r} (e.g. `from mymodule import {name}`)"


def _collect(table: symtable.SymbolTable, allowed: set[str], missing: list[str]) -> None:
    for sym in table.get_symbols():
        name = sym.get_name()
        if sym.is_global() and sym.is_referenced() and name not in allowed and name not in missing:
            missing.append(name)
    for child in table.get_children():
        _collect(child, allowed, missing)


def _assigned_globals(table: symtable.SymbolTable) -> set[str]:
    # `global x; x = 1` inside the body defines x in the step's namespace.
    found: set[str] = set()
    for child in table.get_children():
        found |= {s.get_name() for s in child.get_symbols()
                  if s.is_declared_global() and s.is_assigned()}
        found |= _assigned_globals(child)
    return found


def _first_use(tree: ast.AST, name: str) -> int | None:
    lines = [n.lineno for n in ast.walk(tree)
             if isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Load)]
    return min(lines) if lines else None
