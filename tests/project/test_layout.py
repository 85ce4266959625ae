"""The package's floor plan: each area imports only the areas below it, at module level, and the shared modules at
the package root import no area (read with `ast`, so a new cycle or a hidden import fails here, not in review)."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "fundcircle"

#: The areas from the ground up: each may import those before it, never one after it.
AREAS = (
    "auth", "circles", "attachments", "rounds", "proposals", "deliberation", "voting", "consent", "payouts",
    "learning", "inbox",
    "ledger", "demo",
)  # fmt: skip
#: The ledger's append, its model and its pure chain rules are the ground floor every area writes through; the
#: ledger's pages, exports and API read every area and stand at the top.
#: The inbox's row and its writer are ground floor too: fundcircle.notices, which every area calls, keeps each notice
#: through them.
GROUND_MODULES = {
    "fundcircle.ledger.record",
    "fundcircle.ledger.models",
    "fundcircle.ledger.chain",
    "fundcircle.inbox.notifications",
    "fundcircle.inbox.models",
    "fundcircle.ledger.merkle",
    "fundcircle.ledger.note",
    "fundcircle.ledger.signing",
}
#: The app factory puts the areas together: it alone imports them all.
COMPOSITION = {"fundcircle"}


@dataclass(frozen=True)
class Import:
    module: str
    target: str
    line: int
    in_function: bool


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def floor_of(module: str) -> str:
    """An area's name, or "root" for the shared modules at the package root and the ledger's ground floor."""
    if module in GROUND_MODULES:
        return "root"
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in AREAS else "root"


def imports_of(path: Path) -> list[Import]:
    tree = ast.parse(path.read_text(), filename=str(path))
    module = module_name(path)
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            base = node.module
            if node.level:  # relative: from . import x
                base = ".".join(module.split(".")[: -node.level] + ([node.module] if node.module else []))
            targets = [f"{base}.{alias.name}" if base == "fundcircle" else base for alias in node.names]
        elif isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            continue
        for target in targets:
            if target == "fundcircle" or target.startswith("fundcircle."):
                found.append(Import(module, target, node.lineno, id(node) not in top_level))
    return found


def all_imports() -> list[Import]:
    return [found for path in sorted(PACKAGE.rglob("*.py")) for found in imports_of(path)]


def test_the_floor_plan_names_every_area_package() -> None:
    packages = {path.parent.name for path in PACKAGE.glob("*/__init__.py")}
    assert packages == set(AREAS), "add the new area to AREAS in its place, or make it a module at the root"


def test_areas_import_only_the_areas_below_them() -> None:
    upward = [
        f"{found.module}:{found.line} imports {found.target}"
        for found in all_imports()
        if found.module not in COMPOSITION
        and floor_of(found.module) in AREAS
        and floor_of(found.target) in AREAS
        and AREAS.index(floor_of(found.target)) > AREAS.index(floor_of(found.module))
    ]
    assert upward == [], "an area imports one above it; invert it with a hook (fundcircle/hooks.py)"


def test_the_shared_modules_at_the_root_import_no_area() -> None:
    reaching_up = [
        f"{found.module}:{found.line} imports {found.target}"
        for found in all_imports()
        if found.module not in COMPOSITION and floor_of(found.module) == "root" and floor_of(found.target) != "root"
    ]
    assert reaching_up == []


def test_no_function_imports_another_area() -> None:
    hidden = [
        f"{found.module}:{found.line} imports {found.target} inside a function"
        for found in all_imports()
        if found.in_function and floor_of(found.target) != floor_of(found.module)
    ]
    assert hidden == [], "imports inside functions hide dependencies between areas: import at the top"


def test_there_is_no_import_cycle_between_modules() -> None:
    graph: dict[str, set[str]] = {}
    for found in all_imports():
        if not found.in_function:
            graph.setdefault(found.module, set()).add(found.target)
    modules = set(graph)
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(module: str, path: list[str]) -> bool:
        state[module] = 1
        for target in sorted(graph.get(module, ())):
            if target not in modules and target not in graph:
                continue
            if state.get(target) == 1:
                cycle.extend([*path[path.index(target) :], target] if target in path else [module, target])
                return True
            if state.get(target) is None and visit(target, [*path, target]):
                return True
        state[module] = 2
        return False

    for module in sorted(modules):
        if state.get(module) is None and visit(module, [module]):
            break
    assert cycle == [], " -> ".join(cycle)


def test_every_area_has_its_api_and_pages() -> None:
    web_areas = [area for area in AREAS if area != "demo"]
    expected = [f"{area}/{name}" for area in web_areas for name in ("api.py", "views.py")]
    missing = [name for name in expected if not (PACKAGE / name).exists()]
    assert missing == []
    assert not (PACKAGE / "api").exists(), "the API lives in each area's api.py"


def test_no_view_commits_or_rolls_back() -> None:
    """The request boundary commits (fundcircle/unit_of_work.py); a view only calls services."""
    offenders = []
    for path in sorted([*PACKAGE.glob("*/views.py"), *PACKAGE.glob("*/api.py")]):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in {"commit", "rollback", "roll_back", "finish"}:
                offenders.append(f"{module_name(path)}:{node.lineno} .{node.attr}")
    assert offenders == []


def test_lazy_translations_come_from_fundcircle_i18n_and_nobody_shadows_the_throwaway_name() -> None:
    """Flask-Babel's own lazy strings count as markup, so Jinja would not escape them (fundcircle/i18n.py
    LazyText); and `gettext as _` would shadow the `_` the code throws values away into."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("flask_babel"):
                for alias in node.names:
                    if alias.name.startswith("lazy_") or alias.name == "LazyString" and path.name != "i18n.py":
                        offenders.append(f"{module_name(path)}:{node.lineno} {alias.name} from {node.module}")
                    if alias.asname == "_":
                        offenders.append(f"{module_name(path)}:{node.lineno} {alias.name} as _")
    assert offenders == []
