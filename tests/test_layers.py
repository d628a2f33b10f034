"""The floors of the house, as the import graph shows them: core <- roles <- shell, and no cycle.

The core (``swarmstream/``: events, codec, settings, topics, transport, llm, runtime, patches, ...)
imports neither a role nor the shell; a role (``producers``, ``streams``, ``consumers``) imports the
core only, never another role or the shell; the shell (the CLI, the API, the society driver, the
benches, chaos, the demo) may import anything below it.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parents[1]
PACKAGES = ("swarmstream", "streams", "producers", "consumers")
ROLES = ("producers", "streams", "consumers")
# The shell's rooms in swarmstream/; the package itself is the API's front door (it re-exports the API).
SHELL = (
    "swarmstream.cli", "swarmstream.api", "swarmstream.society", "swarmstream.bench", "swarmstream.chaos",
    "swarmstream.demo", "swarmstream.__main__",
)  # fmt: skip


def floor(module: str) -> str:
    """``core``, ``role`` or ``shell``."""
    if module.split(".")[0] in ROLES:
        return "role"
    if module == "swarmstream" or any(module == room or module.startswith(room + ".") for room in SHELL):
        return "shell"
    return "core"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> dict[str, set[str]]:
    """Each of our modules and the modules of ours it imports (anywhere in it, lazy imports too)."""
    modules = {module_name(path): path for package in PACKAGES for path in (ROOT / package).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # ``from package import module`` imports that module; ``from module import name`` the module.
                targets = [
                    f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules else node.module
                    for alias in node.names
                ]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                continue
            found.update(target for target in targets if target in modules and target != name)
        graph[name] = found
    return graph


def test_every_room_of_the_shell_exists():
    modules = imports()
    assert all(room in modules for room in SHELL), [room for room in SHELL if room not in modules]


def test_the_core_imports_neither_a_role_nor_the_shell():
    upward = [
        f"{module} ({floor(module)}) imports {target} ({floor(target)})"
        for module, targets in imports().items()
        if floor(module) == "core"
        for target in targets
        if floor(target) != "core"
    ]
    assert not upward, "\n".join(upward)


def test_no_role_imports_the_shell():
    upward = [
        f"{module} imports {target}"
        for module, targets in imports().items()
        if floor(module) == "role"
        for target in targets
        if floor(target) == "shell"
    ]
    assert not upward, "\n".join(upward)


def test_no_role_imports_another_role():
    crossings = [
        f"{module} imports {target}"
        for module, targets in imports().items()
        for target in targets
        if module.split(".")[0] in ROLES
        and target.split(".")[0] in ROLES
        and target.split(".")[0] != module.split(".")[0]
    ]
    assert not crossings, "\n".join(crossings)


def test_the_import_graph_has_no_cycle():
    graph = imports()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, "\n".join(" -> ".join(cycle) for cycle in cycles)
