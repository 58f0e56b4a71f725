"""The build generates llama_mtp/_core.pyi with nanobind's stubgen; stubs/ holds the golden
copy (CPython 3.11, nanobind 3.1.0 pinned in pyproject.toml). Drift fails here."""

from __future__ import annotations

import ast
import difflib
from importlib import resources
from pathlib import Path

import llama_mtp

GOLDEN = Path(__file__).resolve().parent.parent / "stubs" / "llama_mtp" / "_core.pyi"


def installed_stub() -> str:
    return resources.files("llama_mtp").joinpath("_core.pyi").read_text()


def test_stub_and_marker_are_installed() -> None:
    assert "class MtpSession" in installed_stub()
    assert resources.files("llama_mtp").joinpath("py.typed").is_file()


def normalized(stub: str) -> str:
    """The stub's content without its layout, which stubgen may format differently from one
    Python version to another: the AST, unparsed."""
    return ast.unparse(ast.parse(stub))


def test_stub_matches_the_golden_copy() -> None:
    assert GOLDEN.is_file(), "stubs/llama_mtp/_core.pyi is missing: copy the generated stub there"
    generated, golden = normalized(installed_stub()), normalized(GOLDEN.read_text())
    diff = "\n".join(
        difflib.unified_diff(
            golden.splitlines(), generated.splitlines(), "stubs/llama_mtp/_core.pyi", "installed _core.pyi", lineterm="", n=1
        )
    )
    assert not diff, (
        "the generated _core.pyi differs from stubs/llama_mtp/_core.pyi; if the API change is intended, copy the "
        f"installed stub over the golden one:\n{diff}"
    )


def test_every_public_name_has_a_docstring() -> None:
    for name in llama_mtp.__all__:
        obj = getattr(llama_mtp, name)
        if callable(obj) or isinstance(obj, type):
            assert obj.__doc__, f"{name} has no docstring"


def test_every_public_name_in_the_stub_has_a_docstring() -> None:
    """IDEs show the stub's docstrings: every public class, method, property and function of
    _core carries one (dunders other than __enter__ are documented by their protocol)."""
    tree = ast.parse(installed_stub())
    missing: list[str] = []

    def visit(nodes: list[ast.stmt], prefix: str) -> None:
        for node in nodes:
            if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
                public = not node.name.startswith("_") or node.name == "__enter__"
                if public and not ast.get_docstring(node):
                    missing.append(prefix + node.name)
                if isinstance(node, ast.ClassDef):
                    visit(node.body, f"{prefix}{node.name}.")

    visit(tree.body, "")
    assert not missing, f"no docstring in the stub: {missing}"


def test_the_stub_declares_every_error_with_its_runtime_bases() -> None:
    # src/bindings/stub_patterns.txt writes the errors into the stub (stubgen would import them
    # from llama_mtp, a cycle type checkers read as Any): each must be the class the module makes
    import inspect

    tree = ast.parse(GOLDEN.read_text())
    declared = {
        node.name: [ast.unparse(b) for b in node.bases]
        for node in tree.body
        if isinstance(node, ast.ClassDef) and node.name.endswith("Error")
    }
    runtime = {
        name: obj
        for name in dir(llama_mtp._core)
        if inspect.isclass(obj := getattr(llama_mtp._core, name)) and issubclass(obj, BaseException)
    }
    assert set(declared) == set(runtime)
    for name, cls in runtime.items():
        assert declared[name] == [b.__name__ for b in cls.__bases__], name
    assert "from llama_mtp import" not in GOLDEN.read_text()  # no cycle left
