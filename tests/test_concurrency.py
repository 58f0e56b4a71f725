"""Threads: every native call on a context goes through its lock, close() waits for calls in
flight, and nothing a second thread does to a context (close, memory, state, toggles) can crash
a decode or a generation running in the first. Each race runs 100 iterations in a child process,
so a crash or a hang is a test failure."""

from __future__ import annotations

from pathlib import Path

from child import run_child

# a decode loop on `ctx` in a thread while the main thread runs an attack 100 times, each
# attack after the worker finished one more iteration (`step`), so they interleave
RACE = """
model = L.Model(sys.argv[1])
ctx = L.Context(model, n_ctx=512, n_batch=128, n_threads=1)
batch = L.Batch(128)
stop = threading.Event()
step = threading.Semaphore(0)
errors = []

def decode_loop():
    while not stop.is_set():
        step.release()
        try:
            batch.set_tokens(np.arange(1, 100, dtype=np.int32) % 50 + 1, seq_id=0)
            ctx.memory_seq_rm(0, -1, -1)
            ctx.decode(batch)
            ctx.get_logits_ith(-1).copy()
        except L.ClosedError:
            return
        except L.LlamaError as e:  # typed: fine (e.g. a state set mid-way); anything else is not
            errors.append(type(e).__name__)

worker = threading.Thread(target=decode_loop)
worker.start()
{attack}
stop.set()
step.release()
worker.join()
print("ok", len(errors))
"""


def race(path: Path, attack: str) -> None:
    out = run_child(RACE.replace("{attack}", attack), str(path))
    assert out.startswith("ok"), out


def test_close_during_decode_waits_for_it(model_path: Path) -> None:
    # close() takes the context's lock: it waits for the decode in flight, then the worker sees
    # ClosedError; the attack repeats on fresh contexts
    race(
        model_path,
        """
closes = 0
for i in range(100):
    step.acquire()
    try:
        ctx.close()
    except L.StaleViewError:  # the worker held a view at that moment
        pass
    if ctx.closed:
        closes += 1
        worker.join()
        ctx = L.Context(model, n_ctx=512, n_batch=128, n_threads=1)
        worker = threading.Thread(target=decode_loop)
        worker.start()
assert closes > 0
""",
    )


def test_memory_ops_during_decode(model_path: Path) -> None:
    race(
        model_path,
        """
for i in range(100):
    step.acquire()
    ctx.memory_clear()
    ctx.memory_seq_rm(0, 3, -1)
    ctx.memory_seq_pos_max(0)
""",
    )


def test_state_and_toggles_during_decode(model_path: Path) -> None:
    race(
        model_path,
        """
for i in range(100):
    step.acquire()
    try:
        blob = ctx.state_seq_get(0)
        if blob:
            ctx.state_seq_set(0, blob)
    except L.StateError:
        pass
    ctx.set_embeddings_pre_norm(i % 2 == 0)
    ctx.set_n_threads(1 + i % 2)
    ctx.perf()
""",
    )


def test_close_during_state_calls(model_path: Path) -> None:
    run_child(
        """
model = L.Model(sys.argv[1])
for i in range(100):
    ctx = L.Context(model, n_ctx=256, n_batch=64, n_threads=1)
    b = L.Batch(64)
    b.set_tokens(np.arange(1, 40, dtype=np.int32))
    ctx.decode(b)
    results = []
    def save():
        try:
            results.append(len(ctx.state_seq_get(0)))
        except L.ClosedError:
            results.append("closed")
    t = threading.Thread(target=save)
    t.start()
    ctx.close()
    t.join()
    assert ctx.closed and len(results) == 1
print("ok")
""",
        str(model_path),
    )


def test_draft_context_memory_during_generation(model_path: Path) -> None:
    # another thread clears the draft context's memory while the generation loop drafts on it:
    # the loop holds both contexts' locks for each step, so this is serialized, never a crash
    out = run_child(
        """
model = L.Model(sys.argv[1])
s = L.stream(model, "race", max_tokens=100, n_threads=1)
gen = s.generator
draft = gen.session.draft_context
stop = threading.Event()
def clear_loop():
    while not stop.is_set():
        draft.memory_clear()
        draft.memory_seq_rm(0, 2, -1)
t = threading.Thread(target=clear_loop)
t.start()
steps = 0
try:
    while not gen.done and steps < 100:
        gen.step()
        steps += 1
except L.LlamaError as e:
    print("typed", type(e).__name__)
stop.set()
t.join()
print("ok", steps)
""",
        str(model_path),
    )
    assert "ok" in out


def test_one_generation_stepped_from_two_threads(model_path: Path) -> None:
    # a Generator shared between threads: each step() runs under the contexts' locks
    out = run_child(
        """
model = L.Model(sys.argv[1])
s = L.stream(model, "shared", max_tokens=60, n_threads=1)
gen = s.generator
def run():
    for _ in range(100):
        if gen.done:
            return
        gen.step()
threads = [threading.Thread(target=run) for _ in range(2)]
for t in threads: t.start()
for t in threads: t.join()
assert gen.done
print("ok", len(gen.tokens[0]))
""",
        str(model_path),
    )
    assert out.startswith("ok 60"), out


def test_views_and_decode_in_two_threads(model_path: Path) -> None:
    # views are taken under the lock; a decode that would reallocate under a live view refuses
    run_child(
        """
model = L.Model(sys.argv[1])
ctx = L.Context(model, n_ctx=512, n_batch=128, n_threads=1)
b = L.Batch(128)
b.set_tokens(np.arange(1, 20, dtype=np.int32))
ctx.decode(b)
def reader():
    for _ in range(100):
        v = ctx.get_logits_ith(-1)
        float(v.max())
        del v
t = threading.Thread(target=reader)
t.start()
for i in range(100):
    b.set_tokens(np.arange(1, 20 + i % 50, dtype=np.int32))
    b.logits[:] = i % 2
    b.logits[-1] = 1
    ctx.memory_clear()
    try:
        ctx.decode(b)
    except L.StaleViewError:
        pass
t.join()
print("ok")
""",
        str(model_path),
    )
