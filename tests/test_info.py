from __future__ import annotations

import importlib.metadata
import re
import sys
import sysconfig
from pathlib import Path

import pytest

import llama_mtp

ROOT = Path(__file__).resolve().parent.parent


def test_build_info() -> None:
    info = llama_mtp.build_info()
    assert info["version"] == llama_mtp.__version__
    assert info["llama_cpp_commit"] == "0c1e57098"
    assert info["variant"] in ("cpu", "cuda", "metal")
    assert "CPU" in info["backends"]
    assert isinstance(info["cpu_features"], dict) and "avx2" in info["cpu_features"]
    assert re.match(r"(gcc|clang|msvc)", str(info["compiler"]))
    # OpenMP as reported by the CPU backend in use (its own feature list), and which one runs
    assert info["openmp"] == ("OPENMP" in info["cpu_backend"]["features"])
    assert info["cpu_variant"] == info["cpu_backend"]["variant"]


def test_free_threaded_build_matches_the_interpreter() -> None:
    """A free-threaded interpreter gets a module built for it (nanobind's FREE_THREADED), and
    importing it leaves the GIL off; a GIL interpreter gets the GIL build."""
    free_threaded = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
    assert llama_mtp.build_info()["free_threaded"] is free_threaded
    # a module not declared free-threading-safe turns the GIL back on at import (3.13+)
    gil_enabled = getattr(sys, "_is_gil_enabled", lambda: True)()
    assert gil_enabled is not free_threaded


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="GCC's libgomp: the Linux builds and wheels")
def test_openmp_is_on_like_upstreams_default_build() -> None:
    """Upstream's default build uses OpenMP; so do ours (source builds and repaired wheels)."""
    info = llama_mtp.build_info()
    assert info["openmp"], info["cpu_backend"]["features"]
    assert "OPENMP = 1" in info["system_info"]


def test_version_matches_pyproject() -> None:
    pyproject = ROOT / "pyproject.toml"
    if not pyproject.is_file():
        pytest.skip("running against an installed wheel without the source tree")
    m = re.search(r'^version = "([^"]+)"', pyproject.read_text(), re.M)
    assert m and m.group(1) == llama_mtp.__version__


def test_error_hierarchy() -> None:
    assert issubclass(llama_mtp.InvalidArgumentError, ValueError)
    for exc in (
        llama_mtp.ModelLoadError,
        llama_mtp.ContextError,
        llama_mtp.DecodeError,
        llama_mtp.StateError,
        llama_mtp.InvalidArgumentError,
    ):
        assert issubclass(exc, llama_mtp.LlamaError)
    assert issubclass(llama_mtp.KvCacheFullError, llama_mtp.DecodeError)
    assert issubclass(llama_mtp.StaleViewError, llama_mtp.ContextError)


def test_extension_module_matches_the_wheel_tag() -> None:
    """An abi3-tagged install must hold an abi3 module (else 3.13+ cannot import it)."""
    dist = importlib.metadata.packages_distributions()["llama_mtp"][0]
    wheel = importlib.metadata.distribution(dist).read_text("WHEEL") or ""
    tags = re.findall(r"^Tag: (\S+)", wheel, re.M)
    assert tags, wheel
    core = Path(llama_mtp._core.__file__).name
    if any("-abi3-" in t for t in tags):
        assert ".abi3." in core or core.endswith((".pyd", "_core.so")), core
    else:
        assert f"cp{sys.version_info[0]}{sys.version_info[1]}" in tags[0]
