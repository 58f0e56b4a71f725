"""examples/mtp_loop.py (the Rust crate's MTP example, ported) runs unchanged."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "mtp_loop.py"


def test_the_ported_mtp_example_runs(kind: str, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(EXAMPLE), "--tokens", "24", "--kind", kind], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "LLAMA_MTP_CACHE": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert "same as plain greedy decoding: True" in done.stdout
