"""No module outside swarmstream/patches touches a private name of the packages it corrects."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from functools import cache
from pathlib import Path

import aiokafka
import faust
import mode
import openai

ROOT = Path(__file__).parents[3]
FENCE = ROOT / "swarmstream" / "patches"
PACKAGES = (aiokafka, faust, mode, openai)
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


def touches(tree: ast.AST, private: frozenset[str]) -> list[tuple[int, str]]:
    """(line, name) of each private attribute read or written on another object, or module imported."""
    top = {package.__name__ for package in PACKAGES}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in private:
            # Our own classes' attributes through self may share a name with theirs.
            if not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
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
    return found


def test_the_scan_finds_what_it_looks_for():
    private = private_names()
    assert {"_committed_offset", "_new_offset", "_maybe_leave_group", "_build_request"} <= private
    code = "c._committed_offset\nself._gap\ngetattr(p, '_producer', None)\nfrom openai._models import X\n"
    assert sorted(touches(ast.parse(code), private)) == [
        (1, "_committed_offset"),
        (3, "_producer"),
        (4, "openai._models"),
    ]


def test_no_module_outside_the_fence_touches_a_private_name():
    private = private_names()
    outside = [
        f"{path.relative_to(ROOT)}:{line}: {name}"
        for folder in SOURCES
        for path in sorted((ROOT / folder).rglob("*.py"))
        if FENCE not in path.parents
        for line, name in touches(ast.parse(path.read_text()), private)
    ]
    assert not outside, "private names of corrected packages outside swarmstream/patches:\n" + "\n".join(outside)
