"""The folder tree is the architecture: imports point one way, from the composition root down.

Each module of ``bot`` (and the Rasa actions) belongs to one layer. A module may import its own
layer or a lower one, never a higher one; packages of one layer never import each other in a
circle. Every import counts, including those inside functions and ``if TYPE_CHECKING:`` blocks.
docs/architecture.md draws the same table.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Highest first. A prefix names a package or a module; the longest matching prefix decides.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "composition root",
        ("bot.app", "bot.server", "bot.cli", "bot.runtime", "bot.independent", "bot.__main__"),
    ),
    (
        "edges",
        ("bot.channels", "bot.console", "bot.rasa.callbacks", "bot.rasa.retrain", "actions"),
    ),
    ("conversation", ("bot.conversation",)),
    (
        "services",
        (
            "bot.handoff",
            "bot.nlg",
            "bot.safety",
            "bot.directory",
            "bot.rasa",
            "bot.language",
            "bot.delivery",
            "bot.evaluation",
        ),
    ),
    ("store", ("bot.store",)),
    (
        "core",
        (
            "bot.types",
            "bot.settings",
            "bot.events",
            "bot.logging",
            "bot.worker",
            "bot.net",
            "bot.needs",
            "bot.languages",
            "bot.platforms",
            "bot",
        ),
    ),
]


def layer_of(module: str) -> tuple[int, str]:
    """(layer index, the prefix that placed it): the longest matching prefix wins."""
    best: tuple[int, int, str] | None = None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            matches = module == prefix or module.startswith(prefix + ".")
            if matches and (best is None or len(prefix) > best[1]):
                best = (index, len(prefix), prefix)
    assert best is not None, f"{module} is in no layer: add it to LAYERS"
    return best[0], best[2]


def modules() -> dict[str, Path]:
    found = {}
    for top in ("bot", "actions"):
        for path in (ROOT / top).rglob("*.py"):
            if "migrations" in path.parts:
                continue  # Alembic's scripts are run by Alembic, not imported by the code
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imports(module: str, path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            names.add(target)
            names.update(f"{target}.{alias.name}" for alias in node.names)
    known = modules()
    return {n for n in names if n in known or n.rsplit(".", 1)[0] in known} & {
        n if n in known else n.rsplit(".", 1)[0] for n in names
    }


def edges() -> list[tuple[str, str]]:
    found = modules()
    result = []
    for module, path in found.items():
        for target in imports(module, path):
            if target != module:
                result.append((module, target))
    return result


def test_every_module_has_a_layer() -> None:
    for module in modules():
        layer_of(module)


def test_imports_never_point_up() -> None:
    upward = []
    for source, target in edges():
        (s_layer, _), (t_layer, _) = layer_of(source), layer_of(target)
        if t_layer < s_layer:
            upward.append(
                f"{source} ({LAYERS[s_layer][0]}) imports {target} ({LAYERS[t_layer][0]})"
            )
    assert upward == []


def test_packages_of_a_layer_import_each_other_without_a_circle() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for source, target in edges():
        (s_layer, s_unit), (t_layer, t_unit) = layer_of(source), layer_of(target)
        if s_layer == t_layer and s_unit != t_unit and t_unit != "bot":
            graph[s_unit].add(t_unit)
    cycles = []
    for start in list(graph):
        stack = [(start, [start])]
        while stack:
            node, trail = stack.pop()
            for nxt in graph.get(node, ()):
                if nxt == start:
                    cycles.append(" -> ".join([*trail, nxt]))
                elif nxt not in trail:
                    stack.append((nxt, [*trail, nxt]))
    assert cycles == []


def test_no_module_looks_up_a_global_runtime() -> None:
    offenders = [
        module
        for module, path in modules().items()
        if "current()" in path.read_text(encoding="utf-8")
    ]
    assert offenders == []
