"""Runs test code in a child process, so that a crash (a signal, abort()) or a hang fails the
test instead of ending the test run."""

from __future__ import annotations

import subprocess
import sys
import textwrap

PRELUDE = """
import os, sys, threading
import numpy as np
import llama_mtp as L
L.set_log_level("none")
"""


def run_child(code: str, *args: str, timeout: float = 120.0) -> str:
    """Runs PRELUDE + code with `args` in sys.argv[1:]; returns its stdout. Fails the calling test
    with the child's output when it died from a signal, exited non-zero or did not finish."""
    source = PRELUDE + textwrap.dedent(code)
    try:
        done = subprocess.run([sys.executable, "-c", source, *args], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"the child hung (no exit within {timeout} s); output:\n{e.stdout}\n{e.stderr}") from None
    if done.returncode != 0:
        how = f"signal {-done.returncode}" if done.returncode < 0 else f"exit status {done.returncode}"
        raise AssertionError(f"the child died ({how}); output:\n{done.stdout}\n{done.stderr[-4000:]}")
    return done.stdout
