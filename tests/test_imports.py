"""The package's import graph has no cycle: every module of nanor1/ can be read, and imported, after the modules it
uses, never in the middle of one of them. Read from the source (ast), so an import inside a function counts too.

    python -m pytest tests/test_imports.py -q
"""
import ast
import os

NANOR1 = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "nanor1")


def module_names(root: str) -> dict[str, str]:
    """{dotted module name: file path} of every .py file under the package directory root."""
    base = os.path.dirname(root)
    out = {}
    for folder, _, files in os.walk(root):
        for f in files:
            if f.endswith(".py"):
                parts = os.path.relpath(os.path.join(folder, f), base)[:-3].split(os.sep)
                out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = os.path.join(folder, f)
    return out


def import_graph(root: str) -> dict[str, set[str]]:
    """{module: modules of the same package it imports}. `from pkg import name` points at pkg.name when that is a
    module, else at pkg. A package's __init__ importing its own submodules is an edge like any other."""
    modules = module_names(root)
    graph = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(open(path, encoding="utf-8").read(), path)):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                source = node.module or ""
                if node.level:  # relative: from .x import y (level 1: this package, 2: its parent, ...)
                    anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                    source = ".".join(anchor + ([source] if source else []))
                targets = [f"{source}.{a.name}" if f"{source}.{a.name}" in modules else source for a in node.names]
            else:
                continue
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as [a, b, ..., a], or None (depth-first search, three colours)."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_nanor1_has_no_import_cycle():
    graph = import_graph(NANOR1)
    assert len(graph) > 15 and "nanor1.tasks.countdown" in graph["nanor1.tasks"]  # the graph was read
    cycle = find_cycle(graph)
    assert cycle is None, " -> ".join(cycle)


def test_the_task_verifiers_read_answers_through_the_leaf_parser_not_the_rewards():
    graph = import_graph(NANOR1)
    assert graph["nanor1.parse"] == set()
    for family in ("countdown", "arithmetic", "linear"):
        uses = graph[f"nanor1.tasks.{family}"]
        assert "nanor1.parse" in uses and "nanor1.rewards" not in uses, family


def test_a_cycle_through_an_import_inside_a_function_is_found(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg import b\n")
    (pkg / "b.py").write_text("import pkg.sub.c\n")
    (pkg / "sub" / "__init__.py").write_text("from pkg.sub import c\n")
    (pkg / "sub" / "c.py").write_text("def f():\n    from pkg.a import something\n")
    graph = import_graph(str(pkg))
    assert graph["pkg.sub"] == {"pkg.sub.c"}
    assert find_cycle(graph) == ["pkg.a", "pkg.b", "pkg.sub.c", "pkg.a"]
    (pkg / "sub" / "c.py").write_text("def f():\n    return 1\n")
    assert find_cycle(import_graph(str(pkg))) is None
