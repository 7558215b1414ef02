"""Imports go one way: no cycle among minidl's modules, counting the imports inside
functions (a late import that hides a cycle is still a cycle) and the package
``__init__`` that importing a submodule runs; every module imports on its own."""
import ast
import importlib.util
import pathlib
import subprocess
import sys

import minidl

ROOT = pathlib.Path(minidl.__file__).parent


def _modules():
    """``{dotted name: path}`` of every module of the package."""
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _targets(module, node, is_package):
    """The minidl modules that an ``import`` statement names."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name.split(".")[0] == "minidl"]
    base = node.module or ""
    if node.level:
        package = module.split(".") if is_package else module.split(".")[:-1]
        package = package[:len(package) - node.level + 1]
        base = ".".join(package + ([base] if base else []))
    if base.split(".")[0] != "minidl":
        return []
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base
            for a in node.names]


def _with_packages(module, target):
    """``target`` and the packages above it that importing it runs, except ``module``'s
    own (already running when ``module`` runs)."""
    parts = target.split(".")
    names = {".".join(parts[:k]) for k in range(2, len(parts))} | {target}
    return {n for n in names if n in MODULES and n != module
            and not module.startswith(n + ".")}


def import_graph():
    """``{module: {(imported module, line), ...}}`` over every import statement, at module
    level or inside a function or class."""
    graph = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        edges = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target in _targets(module, node, path.name == "__init__.py"):
                    edges |= {(t, node.lineno) for t in _with_packages(module, target)}
        graph[module] = edges
    return graph


def find_cycles(graph):
    """The strongly connected components of more than one module (Tarjan's algorithm,
    iterative), each as a sorted list."""
    succ = {m: sorted({t for t, _ in edges}) for m, edges in graph.items()}
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []
    for root in succ:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            if i < len(succ[node]):
                work.append((node, i + 1))
                child = succ[node][i]
                if child not in index:
                    work.append((child, 0))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    cycles.append(sorted(component))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return cycles


def _describe(graph, cycle):
    members = set(cycle)
    lines = [f"{m} -> {t} (line {n})" for m in cycle for t, n in sorted(graph[m])
             if t in members]
    return "import cycle among " + ", ".join(cycle) + ":\n  " + "\n  ".join(lines)


def test_the_graph_sees_every_kind_of_import():
    graph = import_graph()
    assert len(graph) == len(MODULES) > 50
    assert any(t == "minidl.autograd" for t, _ in graph["minidl.ops.math"])
    # importing minidl.layers.base runs minidl/layers/__init__.py first
    assert any(t == "minidl.layers" for t, _ in graph["minidl.models.model"])


def test_find_cycles_reports_a_cycle_hidden_in_a_function():
    graph = {"a": {("b", 1)}, "b": {("c", 1)}, "c": {("a", 9)}, "d": {("a", 1)}}
    assert find_cycles(graph) == [["a", "b", "c"]]
    assert find_cycles({"a": {("b", 1)}, "b": set()}) == []


def test_no_import_cycle_in_minidl():
    graph = import_graph()
    cycles = find_cycles(graph)
    assert not cycles, "\n".join(_describe(graph, c) for c in cycles)


_OPTIONAL = {"numba", "cupy", "cupyx", "h5py", "mpi4py"}


def _top_level_imports(module):
    """The top-level imports of ``module``: (third-party top names, minidl modules)."""
    path = MODULES[module]
    external, internal = set(), set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            external |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level:
            external.add((node.module or "").split(".")[0])
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            internal |= set(_targets(module, node, path.name == "__init__.py"))
    return external, internal & set(MODULES)


def _needing_optional_packages():
    """The minidl modules that import an optional package (Numba, CuPy, ...) at the top,
    themselves or through the minidl modules they import at the top."""
    imports = {m: _top_level_imports(m) for m in MODULES}
    found = {m for m, (external, _) in imports.items() if external & _OPTIONAL}
    while True:
        more = {m for m, (_, internal) in imports.items() if internal & found} - found
        if not more:
            return found
        found |= more


def test_minidl_modules_import_each_other_at_the_top():
    """minidl's modules import each other at the top, where a reader sees them; only a
    module that needs an optional package (the compiled Numba kernels) is imported inside
    the function that uses it, so that minidl imports without that package."""
    optional = _needing_optional_packages()
    late = []
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top = {id(node) for node in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in top:
                targets = set(_targets(module, node, path.name == "__init__.py"))
                if targets - optional:
                    late.append(f"{path.relative_to(ROOT.parent)}:{node.lineno}")
    assert not late, "imports of minidl modules inside functions: " + ", ".join(late)


_IMPORT_EACH_FIRST = """
import importlib, sys, traceback
failed = []
for name in sys.argv[1:]:
    for loaded in [m for m in sys.modules if m == "minidl" or m.startswith("minidl.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception:
        failed.append(name + ": " + traceback.format_exc(limit=-3))
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""


def test_every_module_imports_when_it_is_imported_first():
    """Each module imported before any other minidl module (one interpreter: NumPy and
    SciPy stay loaded, minidl's modules are dropped before each)."""
    names = [m for m in sorted(MODULES) if m != "minidl.ops.depthwise.numba_kernels"
             or importlib.util.find_spec("numba") is not None]
    run = subprocess.run([sys.executable, "-c", _IMPORT_EACH_FIRST, *names],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
