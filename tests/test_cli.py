from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from llama_mtp.cli import main


def test_generate(capsys: pytest.CaptureFixture[str], model_path: Path) -> None:
    assert main(["generate", "-m", str(model_path), "-p", "Hello", "-n", "12", "--n-draft-max", "2"]) == 0
    out = capsys.readouterr()
    assert len(out.out.split()) == 12
    assert "mean acceptance length" in out.err


def test_generate_with_each_drafter(capsys: pytest.CaptureFixture[str], model_path: Path) -> None:
    import llama_mtp

    want = llama_mtp.generate(model_path, "Hello", max_tokens=12, draft="none").text
    for draft in ("none", "ngram", "mtp", "auto"):
        assert main(["generate", "-m", str(model_path), "-p", "Hello", "-n", "12", "--draft", draft]) == 0
        out = capsys.readouterr()
        assert out.out.strip() == want.strip(), draft
        assert "steps by drafter" in out.err
        assert ("mtp drafts" in out.err) == (draft in ("mtp", "auto")), draft


def test_generate_exact(capsys: pytest.CaptureFixture[str], model_path: Path) -> None:
    import llama_mtp

    assert main(["generate", "-m", str(model_path), "-p", "Hello", "-n", "12", "--exact"]) == 0
    want = llama_mtp.generate(model_path, "Hello", max_tokens=12, exact=True).text
    assert capsys.readouterr().out.strip() == want.strip()


def test_info(capsys: pytest.CaptureFixture[str], model_path: Path, kind: str) -> None:
    assert main(["info", "-m", str(model_path)]) == 0
    out = capsys.readouterr().out
    assert "MTP capable     yes" in out
    assert ("n_rs_seq >= 6" in out) == (kind == "hybrid")  # sized for "auto" (AUTO_DRAFT_MAX)
    assert main(["info", "-m", str(model_path), "--n-draft-max", "3"]) == 0
    assert ("n_rs_seq >= 3" in capsys.readouterr().out) == (kind == "hybrid")


def test_no_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2


def test_bench(capsys: pytest.CaptureFixture[str], model_path: Path) -> None:
    assert main(["bench", "-m", str(model_path), "--n-draft-max", "adaptive,1,3", "-n", "24", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "recommended" in out and "plain" in out
    assert len([line for line in out.splitlines() if line.strip().startswith(("1 ", "3 ", "adaptive "))]) == 3
    assert "draft lengths chosen" in out


def test_errors_are_one_line_without_a_traceback(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "missing.gguf"
    assert main(["generate", "-m", str(missing), "-p", "x"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("llama-mtp generate: error: model file not found")
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a gguf at all")
    assert main(["info", "-m", str(junk)]) == 1
    assert capsys.readouterr().err.startswith("llama-mtp info: error:")
    assert main(["serve", "-m", str(missing), "--port", "0"]) == 1  # before binding any port
    assert capsys.readouterr().err.startswith("llama-mtp serve: error: model file not found")


def test_bad_options_print_the_subcommands_usage(capsys: pytest.CaptureFixture[str], model_path: Path) -> None:
    for argv in (
        ["generate", "-m", str(model_path), "-p", "x", "-n", "many"],
        ["generate", "-m", str(model_path), "-p", "x", "--bogus"],
        ["bench", "--n-draft-max", "1,x"],
        ["generate", "-m", str(model_path), "-p", "x", "--n-draft-max", "0"],
        ["generate", "-m", str(model_path), "-p", "x", "--draft", "eagle"],
        ["serve", "-m", str(model_path), "--ngram", "ngram-cache"],
        ["demo", "--n-draft-max", "fast"],
        ["serve"],
        ["serve", "-m", str(model_path), "--hf-repo", "org/repo"],
        ["serve", "--hf-repo", "org/repo"],
        ["serve", "-m", str(model_path), "--parallel", "0"],
        ["serve", "-m", str(model_path), "--port", "http"],
        # values a command cannot use: refused before any work, not a traceback later
        ["bench", "-n", "0"],
        ["demo", "-n", "0"],
        ["bench", "--repeats", "0"],
        ["serve", "-m", str(model_path), "--port", "99999"],
        ["info", "-m", str(model_path), "--n-ctx", "-5"],
        ["generate", "-m", str(model_path), "-p", "x", "--p-min", "nan"],
        ["generate", "-m", str(model_path), "-p", "caf\udce9"],  # not UTF-8: how Python passes it on
        ["rpc-server", "-p", "0"],
    ):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith(f"usage: llama-mtp {argv[0]}"), err


def test_options_have_help_with_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("demo", "generate", "bench", "info", "serve"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        out = capsys.readouterr().out
        assert "--log-level" in out
        if command not in ("info", "serve"):
            # argparse 3.13+ names the metavar once: "-n, --max-tokens MAX_TOKENS"
            assert re.search(r"-n( MAX_TOKENS)?, --max-tokens MAX_TOKENS", out) and "(default: " in out


def test_log_level_after_the_subcommand(capsys: pytest.CaptureFixture[str], model_path: Path) -> None:
    assert main(["info", "-m", str(model_path), "--log-level", "none"]) == 0
    with pytest.raises(SystemExit):
        main(["info", "-m", str(model_path), "--log-level"])


def test_models_without_mtp_layers_fall_back_to_plain_decoding(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, model_path: Path
) -> None:
    import llama_mtp
    import llama_mtp._cli_bench as bench
    import llama_mtp.cli as cli

    no_mtp = lambda path, **kw: llama_mtp.Model(path, load_mtp=False, **kw)  # noqa: E731
    monkeypatch.setattr(cli, "Model", no_mtp)
    monkeypatch.setattr(bench, "Model", no_mtp)
    assert main(["generate", "-m", str(model_path), "-p", "Hello", "-n", "6"]) == 0
    assert "no NextN (MTP) layers: drafts from the text only" in capsys.readouterr().err
    assert main(["bench", "-m", str(model_path), "-n", "8", "--repeats", "1"]) == 0
    out = capsys.readouterr()
    assert "plain decoding only" in out.err and "recommended: plain decoding" in out.out


def test_bench_plot(
    capsys: pytest.CaptureFixture[str], model_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    png = tmp_path / "bench.png"
    argv = ["bench", "-m", str(model_path), "-n", "8", "--repeats", "2", "--n-draft-max", "1,2", "--plot", str(png)]
    assert main(argv) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    capsys.readouterr()
    # without matplotlib the command stops before any run, with the subcommand's usage
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "needs matplotlib" in err and "benchmarking" not in err
