"""No module outside swarmstream/patches touches a private name of the packages it corrects."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

import aiokafka
import faust
import httpx2
import mode
import openai

ROOT = Path(__file__).parents[3]
FENCE = ROOT / "swarmstream" / "patches"
PACKAGES = (aiokafka, faust, httpx2, mode, openai)
# Our code, as the import graph sees it; the tests poke the internals they check on purpose.
SOURCES = ("swarmstream", "streams", "producers", "consumers")


@cache
def private_names() -> frozenset[str]:
    """Every ``_name`` (not dunder) a class of these packages defines or annotates, through its bases."""
    names: set[str] = set()
    for package in PACKAGES:
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if info.name.endswith("__main__"):
                continue  # runs a command line
            try:
                module = importlib.import_module(info.name)
            except Exception:  # optional extras not installed
                continue
            for value in vars(module).values():
                if not inspect.isclass(value):
                    continue
                for klass in value.__mro__:
                    if klass.__module__.split(".")[0] == package.__name__:
                        for name in (*vars(klass), *getattr(klass, "__annotations__", {})):
                            if name.startswith("_") and not name.startswith("__"):
                                names.add(name)
    return frozenset(names)


def third_party(klass: type) -> bool:
    """Whether ``klass`` subclasses a class of a package that is neither ours nor the standard library's."""
    ours = set(SOURCES) | set(sys.stdlib_module_names) | {"builtins"}
    return any(base.__module__.split(".")[0] not in ours for base in klass.__mro__)


def classes_of(module: ModuleType, tree: ast.AST) -> dict[ast.ClassDef, type | None]:
    """Each class statement of ``module``'s source, with the class it made (None where it is not reachable)."""
    found: dict[ast.ClassDef, type | None] = {}

    def visit(node: ast.AST, owner: object | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                made = getattr(owner, child.name, None) if owner is not None else None
                found[child] = made if inspect.isclass(made) else None
                visit(child, found[child])
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                visit(child, None)  # a class made inside a function is not reachable from the module
            else:
                visit(child, owner)

    visit(tree, module)
    return found


def touches(tree: ast.AST, private: frozenset[str], classes: dict[ast.ClassDef, type | None]) -> list[tuple[int, str]]:
    """(line, name) of each private attribute read or written on another object, or module imported.

    ``self._name`` (or ``cls._name``) is exempt only inside a class of ours that subclasses no third-party
    class: there it is our own attribute that happens to share a name with theirs. In a subclass of a
    third-party class (or one whose class cannot be found) it may be theirs, and counts.
    """
    top = {package.__name__ for package in PACKAGES}
    found = []

    def visit(node: ast.AST, klass: ast.ClassDef | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                visit(child, child)
                continue
            check(child, klass)
            visit(child, klass)

    def own_class(klass: ast.ClassDef | None) -> bool:
        made = classes.get(klass) if klass is not None else None
        return made is not None and not third_party(made)

    def check(node: ast.AST, klass: ast.ClassDef | None) -> None:
        if isinstance(node, ast.Attribute) and node.attr in private:
            through_self = isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")
            if not (through_self and own_class(klass)):
                found.append((node.lineno, node.attr))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in ("getattr", "setattr", "hasattr", "delattr") and len(node.args) > 1:
                name = node.args[1]
                if isinstance(name, ast.Constant) and name.value in private:
                    found.append((node.lineno, name.value))
        elif isinstance(node, ast.ImportFrom) and node.module:
            parts = node.module.split(".")
            if parts[0] in top and any(part.startswith("_") for part in parts):
                found.append((node.lineno, node.module))

    visit(tree, None)
    return found


def scan(code: str) -> list[tuple[int, str]]:
    """:func:`touches` of ``code`` run as a module of its own."""
    module = ModuleType("streams.scanned")  # as one of our modules
    exec(compile(code, "scanned", "exec"), module.__dict__)
    tree = ast.parse(code)
    return touches(tree, private_names(), classes_of(module, tree))


def test_the_scan_finds_what_it_looks_for():
    private = private_names()
    assert {"_committed_offset", "_new_offset", "_maybe_leave_group", "_build_request", "_on_sigterm"} <= private
    code = """
def f(c, self, p):
    c._committed_offset
    self._gap  # self outside any class: not ours to exempt
    getattr(p, '_producer', None)
    from openai._models import X
"""
    assert sorted(scan(code)) == [(3, "_committed_offset"), (4, "_gap"), (5, "_producer"), (6, "openai._models")]


def test_self_is_exempt_only_in_our_own_classes_of_no_third_party_base():
    code = """
import faust, mode

class Ours:
    def f(self):
        return self._gap, self._committed_offset  # our own attributes, sharing names with faust's

class Worker(faust.Worker):
    def install_signal_handlers(self):
        self.loop.add_signal_handler(15, self._on_sigterm)  # mode's private handler, through our subclass

class Nested(Ours):
    class Inner(mode.Service):
        def f(self):
            return self._on_sigint
"""
    assert sorted(scan(code)) == [(10, "_on_sigterm"), (15, "_on_sigint")]


def test_no_module_outside_the_fence_touches_a_private_name():
    private = private_names()
    outside = []
    for folder in SOURCES:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if FENCE in path.parents or path.name == "__main__.py":
                continue  # __main__ runs the command line when imported
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            tree = ast.parse(path.read_text())
            classes = classes_of(importlib.import_module(name), tree)
            outside += [f"{path.relative_to(ROOT)}:{line}: {attr}" for line, attr in touches(tree, private, classes)]
    assert not outside, "private names of corrected packages outside swarmstream/patches:\n" + "\n".join(outside)
