"""scripts/server_conformance.py: the adapter that stands in for llama-server maps the flags
llama-mtp serve has, drops the rest with their values, and always serves the given model; the
per-file tally reads pytest's JUnit report."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

import server_conformance  # noqa: E402

from llama_mtp.cli import _parser  # noqa: E402


def test_llama_server_flags_become_serve_flags_that_parse() -> None:
    argv = [
        "--host", "127.0.0.1", "--port", "8081", "--hf-repo", "ggml-org/models", "--hf-file", "x.gguf",
        "--ctx-size", "512", "--parallel", "2", "--n-predict", "64", "--seed", "42", "--alias", "tinyllama-2",
        "--jinja", "--metrics", "--batch-size", "32", "--temp", "0.8", "--api-key", "k", "--offline",
    ]  # fmt: skip
    out = server_conformance.adapter_argv(argv, "/m.gguf")
    assert out == [
        "serve", "-m", "/m.gguf", "--cors-origins", "*", "--host", "127.0.0.1", "--port", "8081", "-c", "512", "-np", "2",
        "-n", "64", "--seed", "42", "--alias", "tinyllama-2", "--api-key", "k",
    ]  # fmt: skip
    parser, _ = _parser()
    args = parser.parse_args(out)  # every mapped flag is one serve takes
    assert (args.n_predict, args.seed, args.parallel, args.ctx_size) == (64, 42, 2, 512)


def test_the_adapter_gives_llama_servers_cors_default() -> None:
    # any origin, but this machine's alone with server tools; an explicit setting passes through
    assert server_conformance.adapter_argv([], "/m.gguf")[-2:] == ["--cors-origins", "*"]
    assert server_conformance.adapter_argv(["--tools", "all"], "/m.gguf")[-2:] == ["--cors-origins", "localhost"]
    out = server_conformance.adapter_argv(["--cors-origins", "a.example"], "/m.gguf")
    assert out.count("--cors-origins") == 1 and out[-1] == "a.example"


def test_the_tally_counts_each_file(tmp_path: Path) -> None:
    junit = tmp_path / "j.xml"
    junit.write_text(
        "<testsuites><testsuite>"
        '<testcase classname="unit.test_a" name="t1"/>'
        '<testcase classname="unit.test_a" name="t2"><failure/></testcase>'
        '<testcase classname="unit.test_b" name="t3"><error/></testcase>'
        '<testcase classname="unit.test_b" name="t4"><skipped/></testcase>'
        "</testsuite></testsuites>"
    )
    tests = server_conformance.outcomes(junit)
    assert tests == {"test_a.py::t1": "passed", "test_a.py::t2": "failed", "test_b.py::t3": "failed", "test_b.py::t4": "skipped"}
    assert server_conformance.results_per_file(tests) == {
        "test_a.py": {"passed": 1, "failed": 1, "skipped": 0},
        "test_b.py": {"passed": 0, "failed": 1, "skipped": 1},
    }


def test_without_metrics_llama_server_serves_none_and_so_does_the_adapter() -> None:
    assert "--no-metrics" in server_conformance.adapter_argv(["--port", "1"], "/m.gguf")
    assert "--no-metrics" not in server_conformance.adapter_argv(["--metrics"], "/m.gguf")


def test_no_slots_passes_through() -> None:
    assert "--no-slots" in server_conformance.adapter_argv(["--no-slots", "--slots"], "/m.gguf")
