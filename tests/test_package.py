"""The package's shape: no import cycle, every module that is not API private, one version.

The import graph is read from the sources (their ASTs), not from ``sys.modules``, so an
import inside a function counts as much as one at the top of a module.  An edge is an
explicit import of a fastem module: ``import fastem.a.b`` and ``from fastem.a import b``
(``b`` a module) point at ``fastem.a.b``, ``from fastem.a import name`` at ``fastem.a``;
relative imports are resolved against the importing module's package.  The implicit
import of a module's parent packages is not an edge (``fastem/__init__.py`` imports its
subpackages, which would make every module a cycle).
"""

import ast
import importlib.metadata
import json
import re
from pathlib import Path

import pytest

import fastem

PACKAGE_DIR = Path(fastem.__file__).resolve().parent
PYPROJECT = PACKAGE_DIR.parent / "pyproject.toml"

# The modules that are API; every other module's name, or a package's above it, starts
# with "_" (CONTRIBUTING.md, "How the layers fit together").
PUBLIC_MODULES = {
    "fastem",
    "fastem.__main__",
    "fastem.exceptions",
    "fastem.linear_model",
    "fastem.mixture",
    "fastem.plot",
}


def package_modules():
    """``{dotted name: (path, is_package)}`` for every module file under fastem/."""
    modules = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        modules[".".join(parts)] = (path, is_package)
    return modules


def _innermost_module(name, modules):
    """``name`` or the longest dotted prefix of it that is a fastem module (None if none)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def imported_modules(name, source, is_package, modules):
    """The fastem modules that ``source``, module ``name``'s text, imports anywhere in it."""
    package = name.split(".") if is_package else name.split(".")[:-1]
    targets = set()
    for node in ast.walk(ast.parse(source, name)):
        if isinstance(node, ast.Import):
            found = [_innermost_module(alias.name, modules) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                source_module = ".".join(base + ([node.module] if node.module else []))
            else:
                source_module = node.module
            found = []
            for alias in node.names:
                submodule = f"{source_module}.{alias.name}"
                found.append(submodule if submodule in modules else _innermost_module(source_module, modules))
        else:
            continue
        targets.update(t for t in found if t is not None and t != name)
    return targets


def import_graph():
    modules = package_modules()
    return {name: imported_modules(name, path.read_text(), is_package, modules)
            for name, (path, is_package) in modules.items()}


def find_cycle(graph):
    """One cycle of ``graph`` as a list of nodes (first == last), or None."""
    state = {}  # 1: on the current path, 2: finished

    def visit(node, path):
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state:
                cycle = visit(target, path)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node, [])
            if cycle:
                return cycle
    return None


def test_the_graph_sees_imports_inside_functions_and_relative_ones():
    graph = import_graph()
    assert "fastem._rows" in graph["fastem._validation"]          # from ._rows import (top)
    assert "fastem._rows" in graph["fastem._data.sampling"]           # from .._rows import
    assert "fastem._families.gaussian" in graph["fastem._init"]   # from ._families.gaussian
    assert {"fastem._bench", "fastem._warmup"} <= graph["fastem._cli"]  # from . import _bench
    # A function-level import is an edge: a module whose only import sits in a function.
    source = "def f():\n    from ..mixture import GaussianMixture\n"
    found = imported_modules("fastem._kernels.probe", source, False, package_modules())
    assert found == {"fastem.mixture"}


def test_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_modules_that_are_not_api_are_private():
    public = []
    for name in package_modules():
        if name in PUBLIC_MODULES:
            continue
        if not any(part.startswith("_") for part in name.split(".")[1:]):
            public.append(name)
    assert public == [], f"modules that are not API must carry a leading underscore: {public}"
    assert PUBLIC_MODULES <= set(package_modules())


def _installed_from_this_tree(dist):
    """Whether the installed distribution ``dist`` is the fastem under test."""
    try:
        if Path(dist.locate_file("fastem/__init__.py")).resolve() == Path(fastem.__file__).resolve():
            return True
    except (OSError, TypeError, NotImplementedError):
        pass
    direct_url = dist.read_text("direct_url.json")
    if direct_url:
        url = json.loads(direct_url).get("url", "")
        return url.startswith("file://") and Path(url[len("file://"):]).resolve() == PACKAGE_DIR.parent
    return False


def test_version_is_the_installed_metadata_version():
    try:
        dist = importlib.metadata.distribution("fastem")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("fastem is not installed")
    if not _installed_from_this_tree(dist):
        pytest.skip(f"the installed fastem is not this tree ({PACKAGE_DIR.parent})")
    assert fastem.__version__ == dist.version


def test_the_version_is_written_once():
    assert re.fullmatch(r"\d+\.\d+\.\d+(\.dev\d+|rc\d+)?", fastem.__version__)
    if not PYPROJECT.exists():
        pytest.skip("no pyproject.toml beside the package (an installed copy)")
    text = PYPROJECT.read_text()
    project = text.split("[project]", 1)[1].split("\n[", 1)[0]
    assert not re.search(r"^\s*version\s*=", project, re.M), "pyproject.toml must not write the version"
    assert re.search(r'^\s*dynamic\s*=\s*\[[^\]]*"version"', project, re.M)
    assert re.search(r'^\s*version\s*=\s*\{\s*attr\s*=\s*"fastem\.__version__"\s*\}', text, re.M)
    # setuptools reads the assignment without importing fastem: it must be a literal.
    tree = ast.parse((PACKAGE_DIR / "__init__.py").read_text())
    literals = [node.value.value for node in tree.body
                if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
                and any(getattr(t, "id", None) == "__version__" for t in node.targets)]
    assert literals == [fastem.__version__]
