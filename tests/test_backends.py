"""CPU backend selection (src/bindings/backends.cpp).

Builds with LLAMA_MTP_CPU_VARIANTS=ON (the published x86-64 wheels) carry every CPU variant
as a module beside _core and load the best one this CPU supports at import; other builds
link one CPU backend. The variant choice is once per process, so choices run in subprocesses.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import llama_mtp
from llama_mtp.testing import tiny_mtp_model

PACKAGE_DIR = Path(llama_mtp.__file__).resolve().parent
INFO = llama_mtp.build_info()
CPU = INFO["cpu_backend"]
VARIANTS_BUILD = bool(INFO["cpu_variants_build"])

# Prints the CPU variant in use and greedy tokens (MTP on) for each model path given.
PROBE = """
import json, sys
import llama_mtp
llama_mtp.set_log_level("none")
tokens = [llama_mtp.generate(p, "The story begins:", max_tokens=24, n_threads=1).tokens for p in sys.argv[1:]]
print(json.dumps({"variant": llama_mtp.build_info()["cpu_backend"]["variant"], "tokens": tokens}))
"""


def run_probe(variant: str | None, *models: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("LLAMA_MTP_CPU_VARIANT", None)
    if variant is not None:
        env["LLAMA_MTP_CPU_VARIANT"] = variant
    return subprocess.run([sys.executable, "-c", PROBE, *map(str, models)], capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture(scope="module")
def probe_models(model_dir: Path) -> list[Path]:
    return [tiny_mtp_model(model_dir / f"tiny-{kind}.gguf", kind=kind) for kind in ("dense", "hybrid")]  # type: ignore[arg-type]


def test_cpu_backend_info() -> None:
    assert "CPU" in INFO["backends"]
    assert isinstance(CPU["features"], dict)
    # cpu_features is derived from the loaded backend's compiled feature list
    for name, present in INFO["cpu_features"].items():
        assert present == (name.upper() in CPU["features"])
    if VARIANTS_BUILD:
        path = Path(CPU["path"])
        assert os.path.samefile(path.parent, PACKAGE_DIR)
        assert re.fullmatch(r"(lib)?ggml-cpu-" + re.escape(CPU["variant"]) + r"\.(so|dll)", path.name)
        scores = CPU["variants"]
        assert "x64" in scores and scores["x64"] > 0  # the baseline runs everywhere
        # ggml picked the highest-scoring variant this CPU supports
        assert scores[CPU["variant"]] == max(scores.values())
    else:
        assert CPU["variant"] == "builtin" and CPU["variants"] == {}
        assert Path(CPU["path"]).name.startswith("_core")


def test_load_backends_is_once_per_process() -> None:
    names = llama_mtp._core.load_backends(str(PACKAGE_DIR))
    assert names == INFO["backends"]
    if VARIANTS_BUILD:
        other = next((v for v in CPU["variants"] if v != CPU["variant"]), None)
        if other is not None:
            with pytest.raises(llama_mtp.BackendError, match="already loaded"):
                llama_mtp._core.load_backends(str(PACKAGE_DIR), other)
        # the same variant again is fine
        assert llama_mtp._core.load_backends(str(PACKAGE_DIR), CPU["variant"]) == names
    else:
        with pytest.raises(llama_mtp.BackendError, match="LLAMA_MTP_CPU_VARIANTS"):
            llama_mtp._core.load_backends(str(PACKAGE_DIR), "x64")


def test_every_supported_variant_generates_the_same_tokens(probe_models: list[Path]) -> None:
    default = run_probe(None, *probe_models)
    assert default.returncode == 0, default.stderr
    reference = json.loads(default.stdout)
    assert reference["variant"] == CPU["variant"]
    supported = [v for v, score in CPU["variants"].items() if score > 0]
    if VARIANTS_BUILD:
        assert "x64" in supported
    for variant in supported:
        result = run_probe(variant, *probe_models)
        assert result.returncode == 0, f"{variant}: {result.stderr}"
        out = json.loads(result.stdout)
        assert out["variant"] == variant
        assert out["tokens"] == reference["tokens"], variant


def test_bad_variant_choice_fails_at_import_with_a_typed_error(probe_models: list[Path]) -> None:
    result = run_probe("no-such-cpu", *probe_models[:1])
    assert result.returncode != 0
    expected = "no CPU variant 'no-such-cpu'" if VARIANTS_BUILD else "LLAMA_MTP_CPU_VARIANTS"
    assert "llama_mtp.BackendError" in result.stderr and expected in result.stderr
    unsupported = [v for v, score in CPU["variants"].items() if score == 0]
    for variant in unsupported:  # e.g. an AMX or AVX-512 variant on a CPU without them
        result = run_probe(variant, *probe_models[:1])
        assert "not supported by this CPU" in result.stderr, variant


# Instructions beyond x86-64 (v1): VEX/EVEX (AVX*, FMA, F16C) registers and mnemonics,
# BMI1/2, POPCNT, SSSE3, SSE4.1/4.2.
NOT_BASELINE = re.compile(
    r"%[yz]mm\d|\t(v[a-z0-9]+\s+.*%[xyz]mm|andn|bextr|blsi|blsr|bzhi|pdep|pext|shlx|shrx|sarx|rorx|mulx"
    r"|popcnt|pshufb|palignr|pmaddubsw|pmulld|ptest|pblendvb|blendvp[sd]|roundp[sd]|rounds[sd]"
    r"|pmov[sz]x|pmaxsd|pminsd|pcmpeqq|pcmpgtq|crc32)\b"
)


@pytest.mark.skipif(sys.platform != "linux", reason="disassembles ELF files with binutils' objdump")
def test_baseline_code_runs_on_any_x86_64() -> None:
    """The x64 variant and everything loaded before the variant choice use no instruction
    beyond x86-64 v1, so the import works on any x86-64 CPU and picks a variant there."""
    if not VARIANTS_BUILD:
        assert CPU["variants"] == {}  # one CPU backend, built for the documented baseline
        return
    objdump = shutil.which("objdump")
    assert objdump, "binutils' objdump is needed to check the baseline"
    files = [
        PACKAGE_DIR / "libggml-cpu-x64.so",
        *PACKAGE_DIR.glob("libggml-base*.so"),
        *PACKAGE_DIR.glob("libggml.so"),
        *PACKAGE_DIR.glob("libllama*.so"),
        *PACKAGE_DIR.glob("_core*.so"),
    ]
    assert len(files) >= 6
    for path in files:
        asm = subprocess.run([objdump, "-d", "--no-show-raw-insn", str(path)], capture_output=True, text=True, check=True).stdout
        hits = [line for line in asm.splitlines() if NOT_BASELINE.search(line)]
        assert not hits, f"{path.name}: {hits[:5]}"
