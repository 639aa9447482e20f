"""The benchmarks' modules: no import circles among them (lazy imports included), and every
``bench`` sub-command registered once, in the order ``--help`` lists them."""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

import appliance.bench as bench

PACKAGE = Path(bench.__file__).resolve().parent


def _bench_imports(path: Path) -> set[str]:
    """The modules of ``appliance.bench`` that ``path`` imports anywhere (its package is ``__init__``)."""
    names = {p.stem for p in PACKAGE.glob("*.py")}
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module is not None and node.module.startswith("appliance.bench"):
            if node.module == "appliance.bench":  # from appliance.bench import x: a module, or the package
                out |= {a.name if a.name in names else "__init__" for a in node.names}
            else:
                out.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            out |= {a.name.split(".")[2] for a in node.names if a.name.startswith("appliance.bench.")}
    return out


def _circle(graph: dict[str, set[str]]) -> list[str]:
    """One import circle of ``graph`` (module -> modules it imports), or [] if there is none."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return []


def test_the_circle_finder_finds_one() -> None:
    assert _circle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _circle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


def test_no_bench_module_imports_another_in_a_circle() -> None:
    graph = {p.stem: _bench_imports(p) - {p.stem} for p in PACKAGE.glob("*.py")}
    assert _circle(graph) == []
    # The shared helpers are the bottom: common imports no other bench module.
    assert graph["common"] == set()


def test_every_sub_command_is_registered_once_in_order() -> None:
    parser = argparse.ArgumentParser()
    bench.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["bench", "engine", "--sizes", "481_641"])
    assert args.func.__module__ == "appliance.bench.engine" and args.sizes == ["481_641"]
    action = next(a for a in parser._subparsers._group_actions if a.dest == "command")
    sub = action.choices["bench"]
    names = list(next(a for a in sub._actions if isinstance(a, argparse._SubParsersAction)).choices)
    assert names == [
        "engine", "pipeline", "footprint", "soak", "smoothing", "ids", "movenet", "camera", "replay", "discover",
        "metrics", "room", "hub", "footprint-run", "update",
    ]  # fmt: skip
