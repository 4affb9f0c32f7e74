"""Kernels that Python calls have a Python entry; the others run in compiled code only.

Only kernels declared ``@kernel(entry=True)`` are compiled with the wrappers that let
Python call them (``fastem._kernels._jit``).  A path that calls any other kernel from
Python would raise ``TypeError``, however rarely it runs, so the sources are read here
(their ASTs) for every call that Python code makes -- any code outside a compiled
function -- and each kernel it reaches must be an entry.
"""

import ast
from pathlib import Path

import numpy as np
import pytest

import fastem
from fastem._kernels import outer_moments
from fastem._kernels._jit import CompiledOnly

PACKAGE_DIR = Path(fastem.__file__).resolve().parent

# Decorators whose function body is compiled code (or returns compiled code: overloads).
COMPILED_DECORATORS = {"kernel", "njit", "jit", "overload", "overload_method", "intrinsic", "register_jitable"}


def _decorator_name(decorator):
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    return target.id if isinstance(target, ast.Name) else getattr(target, "attr", "")


def _module_name(path):
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _kernels_by_module():
    """``{module: {kernel name: is_entry}}`` for every ``@kernel`` function of fastem
    (nested ones included: closures made by factories)."""
    kernels = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        found = {}
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef):
                continue
            for decorator in node.decorator_list:
                if _decorator_name(decorator) == "kernel":
                    keywords = decorator.keywords if isinstance(decorator, ast.Call) else []
                    entry = any(k.arg == "entry" and getattr(k.value, "value", False) is True for k in keywords)
                    found[node.name] = found.get(node.name, False) or entry
        kernels[_module_name(path)] = found
    return kernels


def _resolve(module, level, name):
    """The absolute module of ``from <level dots><name> import ...`` inside ``module``."""
    if level == 0:
        return name
    package = module.split(".")
    is_package = (PACKAGE_DIR.parent / Path(*package) / "__init__.py").exists()
    base = package if is_package else package[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def _python_calls(path, kernels):
    """``(line, module, kernel)`` of every call from Python code in ``path`` that
    reaches a fastem kernel, directly or by passing one to another function."""
    module = _module_name(path)
    tree = ast.parse(path.read_text())
    names = {name: (module, name) for name in kernels.get(module, {})}  # local name -> kernel
    modules = {}  # local name -> kernel module
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            source = _resolve(module, node.level, node.module or "")
            for alias in node.names:
                local = alias.asname or alias.name
                if f"{source}.{alias.name}" in kernels:
                    modules[local] = f"{source}.{alias.name}"
                elif alias.name in kernels.get(source, {}):
                    names[local] = (source, alias.name)

    def kernel_of(expression):
        if isinstance(expression, ast.Name):
            return names.get(expression.id)
        if isinstance(expression, ast.Attribute) and isinstance(expression.value, ast.Name):
            owner = modules.get(expression.value.id)
            if owner is not None and expression.attr in kernels[owner]:
                return owner, expression.attr
        return None

    found = []

    def visit(node):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef) and any(
                _decorator_name(d) in COMPILED_DECORATORS for d in child.decorator_list
            ):
                continue  # compiled code
            if isinstance(child, ast.Call):
                for expression in [child.func, *child.args]:
                    reached = kernel_of(expression)
                    if reached is not None:
                        found.append((child.lineno, *reached))
            visit(child)

    visit(tree)
    return found


def test_every_kernel_python_calls_is_an_entry():
    kernels = _kernels_by_module()
    calls = [
        (path.relative_to(PACKAGE_DIR.parent), line, module, name)
        for path in sorted(PACKAGE_DIR.rglob("*.py"))
        for line, module, name in _python_calls(path, kernels)
    ]
    assert len(calls) >= 10  # the scan does find the range kernels' calls
    missing = [f"{path}:{line} calls {module}.{name}" for path, line, module, name in calls if not kernels[module][name]]
    assert not missing, "kernels called from Python without entry=True:\n" + "\n".join(missing)


def test_the_scan_sees_a_call_through_a_module_and_a_lambda(tmp_path):
    kernels = _kernels_by_module()
    calls = _python_calls(PACKAGE_DIR / "_kernels" / "gaussian.py", kernels)
    reached = {name for _, module, name in calls if module == "fastem._kernels.gaussian_tile"}
    assert reached == {"range_stats", "posterior_range"}
    calls = _python_calls(PACKAGE_DIR / "_kernels" / "bernoulli.py", kernels)
    assert ("fastem._kernels.bernoulli", "_fill_tile_columns") in {call[1:] for call in calls}  # in a lambda
    assert kernels["fastem._kernels.transpose"]["transpose_tile"] is False


def test_a_compiled_only_kernel_refuses_a_call_from_python():
    assert isinstance(outer_moments.outer_buffers, CompiledOnly)
    with pytest.raises(TypeError, match=r"fastem\._kernels\.outer_moments\.outer_buffers is a kernel for compiled"):
        outer_moments.outer_buffers(4, np.ones((3, 4)))


# NumPy's constructors, each compiled as a function of its own per signature in compiled
# code; kernels allocate with ``fastem._kernels.arrays`` instead.
NUMPY_CONSTRUCTORS = {"empty", "zeros", "ones", "full", "arange", "empty_like", "zeros_like", "ones_like", "full_like"}


def test_kernels_allocate_without_numpy_constructors():
    found = []
    for path in sorted((PACKAGE_DIR / "_kernels").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and any(
                _decorator_name(d) in COMPILED_DECORATORS for d in node.decorator_list
            ):
                for call in ast.walk(node):
                    function = getattr(call, "func", None)
                    if (isinstance(function, ast.Attribute) and function.attr in NUMPY_CONSTRUCTORS
                            and isinstance(function.value, ast.Name) and function.value.id == "np"):
                        found.append(f"{path.name}:{call.lineno} {node.name} calls np.{function.attr}")
    assert found == [], "\n".join(found)
