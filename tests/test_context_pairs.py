"""Every entry point where a target and a draft context meet refuses the same context twice with
IncompatibleContextsError before it takes a lock (a second lock of one context waits for
itself), and the lock itself refuses a re-entry or the wrong order instead of hanging. Each case
runs in a child process with a timeout, so a hang fails the test instead of the run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from child import run_child

SETUP = """
import json
m = L.Model(sys.argv[1])
t, d = L.mtp_contexts(m, n_draft_max=3, n_ctx=256, n_batch=64)
cases = json.loads(sys.argv[2])
results = {}
for name, statement in cases.items():
    try:
        exec(statement)
        results[name] = ["no error", ""]
    except Exception as e:
        results[name] = [type(e).__name__, str(e)]
# the contexts stay usable: a real session over them still runs a step
s = L.MtpSession(t, d, L.MtpSessionConfig(1, 3))
b = L.Batch(8)
b.set_tokens([1, 2, 3])
s.decode_target_and_process(b)
results["usable after"] = [str(len(s.draft(0, 3, 4)) >= 0), ""]
print(json.dumps(results))
"""

# name -> statement; each must raise IncompatibleContextsError naming the mistake
SAME_CONTEXT_TWICE = {
    "MtpSession(t, t, config)": "L.MtpSession(t, t, L.MtpSessionConfig(1, 3))",
    "MtpSession(d, d, config)": "L.MtpSession(d, d, L.MtpSessionConfig(1, 3))",
    "MtpSession(t, t)": "L.MtpSession(t, t)",
    "MtpSession(t, t, n_seq, n_draft_max)": "L.MtpSession(t, t, 1, 3)",
    "MtpSession.new_with_config(t, t)": "L.MtpSession.new_with_config(t, t, L.MtpSessionConfig(1, 3))",
    "Generator(t, t, prompts).step()": "L.Generator(t, t, [[1, 2, 3]], max_tokens=4).step()",
    "Generator(d, d, prompts)": "L.Generator(d, d, [[1, 2, 3]], max_tokens=4)",
    "Generator.with_slots(t, t) add + step": "g = L.Generator.with_slots(t, t, n_slots=1); g.add([[1, 2, 3]], max_tokens=4); g.step()",
}


def test_the_same_context_twice_is_refused_everywhere(model_path: Path) -> None:
    out = run_child(SETUP, str(model_path), json.dumps(SAME_CONTEXT_TWICE), timeout=60)
    results = json.loads(out)
    assert results.pop("usable after") == ["True", ""]
    wrong = {name: got for name, got in results.items() if got[0] != "IncompatibleContextsError" or "same context" not in got[1]}
    assert not wrong, wrong
    assert len(results) == len(SAME_CONTEXT_TWICE)


@pytest.mark.parametrize(
    "order, match",
    [
        ("t, t", "already holds this context's lock"),
        ("d, d", "already holds this context's lock"),
        ("d, t", "lock order"),
    ],
)
def test_the_lock_refuses_a_reentry_or_the_wrong_order(model_path: Path, order: str, match: str) -> None:
    # _lock_pair takes the first context's lock, then the second's, as every pair-taking path does:
    # the backstop that keeps a missed entry-point check from ever hanging again
    code = f"""
m = L.Model(sys.argv[1])
t, d = L.mtp_contexts(m, n_draft_max=3, n_ctx=256, n_batch=64)
try:
    L._core._lock_pair({order})
    print("no error")
except L.ContextError as e:
    print(type(e).__name__, e)
L._core._lock_pair(t, d)  # the one order, and the locks were released after the refusal
b = L.Batch(4)
b.set_tokens([1, 2])
t.decode(b)
print("usable")
"""
    out = run_child(code, str(model_path), timeout=60)
    first, last = out.strip().splitlines()
    assert first.startswith("ContextError") and match in first, first
    assert last == "usable"
