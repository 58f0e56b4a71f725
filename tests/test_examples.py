"""examples/mtp_loop.py (the Rust crate's MTP example, ported) runs unchanged, also with --adaptive."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "mtp_loop.py"


@pytest.mark.parametrize("adaptive", [False, True])
def test_the_ported_mtp_example_runs(kind: str, tmp_path: Path, adaptive: bool) -> None:
    argv = [sys.executable, str(EXAMPLE), "--tokens", "40", "--kind", kind] + (["--adaptive"] if adaptive else [])
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=300, env={**os.environ, "LLAMA_MTP_CACHE_DIR": str(tmp_path)}
    )
    assert done.returncode == 0, done.stderr
    assert "same as plain greedy decoding: True" in done.stdout
    # the manual loop fed its own controller, which chose a length for every step
    assert ("draft lengths chosen: [1, 0, 0" in done.stdout) == adaptive
