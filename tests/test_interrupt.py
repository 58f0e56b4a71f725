"""Ctrl-C during one long native call: llama.cpp's abort callback sees the signal, the decode
stops part-way, Python's handler raises KeyboardInterrupt and the context stays usable."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from child import run_child

# The watch uses sigaction; on Windows one long decode is not interruptible (README, "Threads,
# Ctrl-C and bad input"), and os.kill(SIGINT) there ends the process instead of raising.
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="no SIGINT watch on Windows (documented)")

# The helper thread can only run while the main thread has released the GIL (a switch interval
# of 1000 s leaves it no other chance), i.e. once the decode runs: it sends SIGINT then.
# Without a GIL (free-threaded builds) it may send it just before the call: the watch then
# stops the call before it decodes anything, which these tests accept as well.
LONG_PREFILL = """
import signal, time
# Python's own handler, also when the suite was started in the background (SIGINT ignored)
signal.signal(signal.SIGINT, signal.default_int_handler)
sys.setswitchinterval(1000)
n = 16384
model = L.Model(sys.argv[1])
ctx = L.Context(model, n_ctx=n, n_batch=n, n_ubatch=256, n_threads=1)
batch = L.Batch(n)
batch.set_tokens(np.arange(n, dtype=np.int32) % 50 + 1)
go = threading.Event()
sent = []
def interrupt():
    go.wait()
    sent.append(time.perf_counter())
    os.kill(os.getpid(), signal.SIGINT)
threading.Thread(target=interrupt).start()
go.set()
try:
    {call}
    print("completed")
except KeyboardInterrupt:
    latency = time.perf_counter() - sent[0]
    print("interrupted", ctx.memory_seq_pos_max(0), f"{latency:.3f}")
"""


def test_ctrl_c_stops_a_long_prefill_and_leaves_the_context_usable(dense_path: Path) -> None:
    out = run_child(
        LONG_PREFILL.replace("{call}", "ctx.decode(batch)")
        + """
# usable afterwards: the interrupted rows are gone, a new decode works
ctx.memory_clear()
batch.set_tokens(np.arange(1, 33, dtype=np.int32))
ctx.decode(batch)
print("after", ctx.memory_seq_pos_max(0))
""",
        str(dense_path),
    )
    lines = out.split()
    assert lines[0] == "interrupted", out
    pos_max, latency = int(lines[1]), float(lines[2])
    assert pos_max < 16383, "the decode ran to the end: the abort callback did not stop it"
    assert lines[-2:] == ["after", "31"], out
    print(f"Ctrl-C latency during a 16k-token prefill: {latency * 1000:.0f} ms")


def test_ctrl_c_stops_a_generation_prefill(dense_path: Path) -> None:
    out = run_child(
        LONG_PREFILL.replace("{call}", "L.generate(model, batch.token.copy(), max_tokens=4, draft='none')"), str(dense_path)
    )
    assert out.startswith("interrupted"), out


def test_a_program_ignoring_sigint_is_not_interrupted(dense_path: Path) -> None:
    # SIG_IGN is the program's choice: the watch leaves it alone and the decode completes
    out = run_child(
        LONG_PREFILL.replace("n = 16384", "n = 2048\nsignal.signal(signal.SIGINT, signal.SIG_IGN)").replace(
            "{call}", "ctx.decode(batch)"
        ),
        str(dense_path),
    )
    assert out.strip() == "completed", out


def test_an_interrupted_generation_is_over(dense_path: Path) -> None:
    out = run_child(
        """
import signal
signal.signal(signal.SIGINT, signal.default_int_handler)
sys.setswitchinterval(1000)
model = L.Model(sys.argv[1])
# 256 sequences: one step runs ~0.2 s, time for the helper thread to be scheduled
gen = L.stream(model, ["interrupt me"] * 256, max_tokens=50, n_threads=1).generator
go = threading.Event()
def interrupt():
    go.wait()
    os.kill(os.getpid(), signal.SIGINT)
threading.Thread(target=interrupt).start()
go.set()
try:
    gen.step()  # the helper thread runs once this releases the GIL
    print("completed")
except KeyboardInterrupt:
    print("interrupted", gen.done)
try:
    gen.step()
except L.ContextError as e:
    print("then", "failed earlier" in str(e))
""",
        str(dense_path),
    )
    assert out.split() == ["interrupted", "True", "then", "True"], out
