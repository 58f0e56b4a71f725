"""llama.cpp's messages go through our level filter (set_log_level, LLAMA_MTP_LOG_LEVEL)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import llama_mtp


def stderr_of_a_load(path: Path, level: str | None = None, env_level: str | None = None) -> str:
    code = "import sys, llama_mtp as L\n" + (f"L.set_log_level({level!r})\n" if level else "") + "L.Model(sys.argv[1])"
    env = {k: v for k, v in os.environ.items() if k != "LLAMA_MTP_LOG_LEVEL"}
    if env_level:
        env["LLAMA_MTP_LOG_LEVEL"] = env_level
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stderr


def test_the_level_filters_llamas_messages(dense_path: Path) -> None:
    assert "llama_model_loader" in stderr_of_a_load(dense_path, "info")
    assert stderr_of_a_load(dense_path, "none") == ""
    assert stderr_of_a_load(dense_path, env_level="none") == ""
    assert "llama_model_loader" in stderr_of_a_load(dense_path, env_level="debug")


def test_an_unknown_level_is_an_invalid_argument() -> None:
    with pytest.raises(llama_mtp.InvalidArgumentError, match="debug, info, warn, error or none"):
        llama_mtp.set_log_level("loud")
    llama_mtp.set_log_level("none")
