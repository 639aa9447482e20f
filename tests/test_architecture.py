"""The layering in docs/architecture.md is true: no module imports from its own layer's other
packages or from a higher layer, and the control plane uses only the Control facade."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "appliance"
DOC = ROOT / "docs" / "architecture.md"


def layers() -> dict[str, int]:
    """Top-level part (``errors``, ``output``, ...) -> layer, from the doc's table."""
    table: dict[str, int] = {}
    for line in DOC.read_text().splitlines():
        m = re.match(r"^\| (\d+) \| ((?:`[\w]+` ?)+) \|", line)
        if m:
            for name in re.findall(r"`(\w+)`", m.group(2)):
                table[name] = int(m.group(1))
    return table


def part(module: str) -> str:
    """``appliance.models.engine`` -> ``models``; ``appliance`` -> ``appliance``."""
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else pieces[0]


def imports(path: Path, module: str) -> set[str]:
    """Every appliance module ``path`` imports, at any depth (lazy imports too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "appliance"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's package
                base = module.split(".")[: -node.level]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name.split(".")[0] == "appliance":
                found.add(name)
                found |= {f"{name}.{a.name}" for a in node.names}
    return found


def modules() -> list[tuple[Path, str]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out.append((path, ".".join(parts)))
    return out


def test_every_package_has_a_layer() -> None:
    table = layers()
    assert len(table) >= 20, "the layer table in docs/architecture.md was not found"
    missing = sorted({part(m) for _, m in modules()} - set(table))
    assert not missing, f"not in the layer table of docs/architecture.md: {missing}"


def violations(path: Path, module: str, table: dict[str, int]) -> list[str]:
    """Imports of ``module`` (at ``path``) from another package of its layer or from a higher one."""
    mine, wrong = part(module), []
    for target in imports(path, module):
        theirs = part(target)
        if theirs not in table:  # ``from appliance import __version__``
            theirs = "appliance"
        if theirs != mine and table[theirs] >= table[mine]:
            wrong.append(f"{module} (layer {table[mine]}) imports {target} (layer {table[theirs]})")
    return wrong


def test_no_module_imports_from_its_layer_or_above() -> None:
    table = layers()
    wrong = [v for path, module in modules() for v in violations(path, module, table)]
    assert not wrong, "\n".join(wrong)


def test_the_control_plane_sees_only_the_facade() -> None:
    wrong = [
        f"{module} imports {target}"
        for path, module in modules()
        if part(module) in {"control", "web", "discovery"}
        for target in imports(path, module)
        if target.startswith("appliance.core")
        and not target.startswith(("appliance.core.facade", "appliance.core.status"))
    ]
    assert not wrong, "\n".join(wrong)


def test_the_checker_catches_upward_and_sideways_imports(tmp_path: Path) -> None:
    """The check itself works: a pose module importing the application (up) or a source (sideways)."""
    table = layers()
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from appliance.core.app import Application\n")
    assert violations(bad, "appliance.pose.bad", table)
    bad.write_text("from appliance.capture import create_source\n")
    assert violations(bad, "appliance.pose.bad", table)
    bad.write_text("from appliance.types import Poses\nfrom . import decode\n")
    assert not violations(bad, "appliance.pose.bad", table)


def test_only_the_http_routes_need_the_whole_control() -> None:
    """Each control-plane module depends on the narrowest protocol it needs: only the HTTP routes'
    wiring (web/deps.py, web/server.py) and the service may name the union ``Control``."""
    allowed = {"appliance.web.deps", "appliance.web.server"}
    wrong = [
        module
        for path, module in modules()
        if part(module) in {"control", "web", "discovery"} and module not in allowed
        if "appliance.core.facade.Control" in imports(path, module)
    ]
    assert not wrong, f"use Reading, Commanding, Subscribing, Steering or Watching: {wrong}"


def test_service_wiring_is_not_the_applications() -> None:
    """Registering servers and peers is the service's (service/registry.py), not the application's."""
    source = (PACKAGE / "core" / "app.py").read_text()
    assert not re.search(r"def (register_server|unregister_server|register_peers)\b", source)
    assert not re.search(
        r"def (register_server|unregister_server|register_peers)\b", (PACKAGE / "core" / "facade.py").read_text()
    )


#: The longest a function (or method) in appliance/ may be, in lines (its decorators and docstring included).
MAX_FUNCTION_LINES = 80


def long_functions(path: Path, module: str) -> list[str]:
    """``module.function (N lines)`` for every function of ``path`` longer than ``MAX_FUNCTION_LINES``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            lines = (node.end_lineno or node.lineno) - start + 1
            if lines > MAX_FUNCTION_LINES:
                found.append(f"{module}.{node.name} ({lines} lines)")
    return found


def test_no_function_is_longer_than_80_lines() -> None:
    wrong = [f for path, module in modules() for f in long_functions(path, module)]
    assert not wrong, f"split these (at most {MAX_FUNCTION_LINES} lines each): {wrong}"


def test_the_length_check_counts_lines(tmp_path: Path) -> None:
    """The check itself works: 81 lines are too many, 80 are not."""
    bad = tmp_path / "long.py"
    bad.write_text("def f():\n" + "    x = 1\n" * 80)
    assert long_functions(bad, "long") == ["long.f (81 lines)"]
    bad.write_text("async def f():\n" + "    x = 1\n" * 79)
    assert long_functions(bad, "long") == []


def test_test_modules_share_helpers_only_through_tests_support() -> None:
    """A test module never imports another test module or a conftest (fixtures only): shared helpers
    live in ``tests/support/``."""
    tests = ROOT / "tests"
    wrong = []
    for path in sorted(tests.rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for target in imports_of_tests(path, module):
            last = target.split(".")[-1]
            if last.startswith("test_") or last == "conftest":
                wrong.append(f"{module} imports {target}")
    assert not wrong, "\n".join(wrong)


def imports_of_tests(path: Path, module: str) -> set[str]:
    """The ``tests`` modules ``path`` imports (relative imports resolved; ``from X import name`` is X)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "tests"}
        elif isinstance(node, ast.ImportFrom):
            base = module.split(".")[: -node.level] if node.level else []
            name = ".".join(base + ([node.module] if node.module else []))
            if name.split(".")[0] == "tests":
                found.add(name)
    return found
