"""Import cycles between the modules of a package (#18: "no import cycle").

Reads every module's import statements (``ast``, nothing is imported) and reports the strongly
connected components of three graphs, from the strictest to the loosest:

- ``import time``: imports run when a module is imported (module level, outside ``if TYPE_CHECKING``);
  a cycle here can fail with a partly initialised module, depending on which module is imported first;
- ``runtime``: also the imports inside functions (deferred imports that hide a cycle);
- ``all``: also the ``if TYPE_CHECKING`` imports (what grimp and import-linter see).

Usage: ``python scripts/import_cycles.py [PACKAGE ...]`` from the repository root (default:
``pneumo_desktop training``). Exit status 1 when the import-time graph has a cycle.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterable
from pathlib import Path

KINDS = ("import time", "runtime", "all")


def module_files(package: str, root: Path) -> dict[str, Path]:
    base = root / package
    out = {}
    for path in sorted(base.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.Module) -> Iterable[tuple[ast.Import | ast.ImportFrom, str]]:
    """Each import statement with its kind: 'module', 'function' or 'type'."""

    def walk(node: ast.AST, kind: str) -> Iterable[tuple[ast.Import | ast.ImportFrom, str]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom):
                yield child, kind
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                for sub in child.body:
                    yield from walk(ast.Module(body=[sub], type_ignores=[]), "type")
                for sub in child.orelse:
                    yield from walk(ast.Module(body=[sub], type_ignores=[]), kind)
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                yield from walk(child, "type" if kind == "type" else "function")
            else:
                yield from walk(child, kind)

    yield from walk(tree, "module")


def _targets(node: ast.Import | ast.ImportFrom, name: str, is_pkg: bool, known: set[str]) -> list[str]:
    def nearest(mod: str) -> str | None:
        while mod and mod not in known:
            mod = mod.rpartition(".")[0]
        return mod or None

    found: list[str | None] = []
    if isinstance(node, ast.Import):
        found = [nearest(a.name) for a in node.names]
    else:
        if node.level:
            base = name if is_pkg else name.rpartition(".")[0]
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            mod = f"{base}.{node.module}" if node.module else base
        else:
            mod = node.module or ""
        for alias in node.names:  # `from pkg import submodule` imports the submodule
            sub = f"{mod}.{alias.name}"
            found.append(sub if sub in known else nearest(mod))
    return [t for t in found if t is not None and t != name]


def graphs(packages: list[str], root: Path) -> dict[str, dict[str, set[str]]]:
    files: dict[str, Path] = {}
    for package in packages:
        files.update(module_files(package, root))
    known = set(files)
    levels = {"module": 0, "function": 1, "type": 2}
    out: dict[str, dict[str, set[str]]] = {k: {m: set() for m in files} for k in KINDS}
    for name, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node, kind in _imports(tree):
            for target in _targets(node, name, path.name == "__init__.py", known):
                for i, graph_kind in enumerate(KINDS):
                    if levels[kind] <= i:
                        out[graph_kind][name].add(target)
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return sorted(found)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("packages", nargs="*", default=["pneumo_desktop", "training"])
    ap.add_argument("--root", type=Path, default=Path.cwd())
    args = ap.parse_args(argv)
    all_graphs = graphs(args.packages, args.root)
    say = sys.stdout.write
    import_time_cycles = 0
    for kind in KINDS:
        graph = all_graphs[kind]
        found = cycles(graph)
        say(f"{kind}: {len(found)} cycle(s)\n")
        for component in found:
            members = set(component)
            say(f"  {len(component)} modules: {', '.join(component)}\n")
            for m in component:
                inner = sorted(graph[m] & members)
                say(f"    {m} -> {', '.join(inner)}\n")
        if kind == "import time":
            import_time_cycles = len(found)
    return 1 if import_time_cycles else 0


if __name__ == "__main__":
    sys.exit(main())
