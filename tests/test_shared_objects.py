"""Objects shared between Python threads without a context lock of their own: the bindings'
per-object locks (nb::lock_self) and Model's mutex keep them consistent on a free-threaded
interpreter, where no GIL orders the calls (the GIL build runs the same races). Each race runs in
a child process, so a crash or a hang is a test failure; the iteration counts are in the code."""

from __future__ import annotations

from pathlib import Path

from child import run_child

THREADS = 4


def test_draft_controller_fed_from_threads_counts_every_step() -> None:
    # observe() from 4 threads, 500 steps each, with next() and the estimates read between:
    # every step is counted once and the history holds each length asked for
    out = run_child(f"""
c = L.DraftController(6)
barrier = threading.Barrier({THREADS})
def feed(seed):
    barrier.wait()
    for i in range(500):
        k = (seed + i) % 7
        c.observe(k, k, k // 2, t_draft=1e-4 * k, t_verify=1e-3 + 1e-4 * k, t_process=1e-4)
        assert 0 <= c.next() <= 6
        assert len(c.expected_speed) == 7 and len(c.acceptance) == 6
        c.state()
threads = [threading.Thread(target=feed, args=(s,)) for s in range({THREADS})]
for t in threads: t.start()
for t in threads: t.join()
h = c.history
assert c.n_steps == {THREADS} * 500 == len(h), (c.n_steps, len(h))
asked = [(s + i) % 7 for s in range({THREADS}) for i in range(500)]
assert np.bincount(h, minlength=7).tolist() == np.bincount(asked, minlength=7).tolist()
print("ok", c.n_steps)
""")
    assert out.startswith(f"ok {THREADS * 500}"), out


def test_batch_filled_from_threads_keeps_its_capacity() -> None:
    # 4 threads append 500 rows each to a batch of 1000: exactly 1000 rows land, the other 1000
    # appends are refused with a typed error (never a write past the arrays); 100 rounds
    out = run_child(f"""
b = L.Batch(1000)
barrier = threading.Barrier({THREADS})
for round in range(100):
    b.clear()
    landed = [0] * {THREADS}
    refused = [0] * {THREADS}
    def fill(w):
        barrier.wait()
        for i in range(500):
            try:
                b.add(w * 1000 + i, i, w)
                landed[w] += 1
            except L.InvalidArgumentError:
                refused[w] += 1
    threads = [threading.Thread(target=fill, args=(w,)) for w in range({THREADS})]
    for t in threads: t.start()
    for t in threads: t.join()
    assert len(b) == sum(landed) == 1000 and sum(refused) == 1000, (len(b), landed, refused)
    # each row is whole: its token, position and seq id come from the same add()
    tok, pos, seq = b.token.copy(), b.pos.copy(), b.seq_id.copy()
    assert (tok // 1000 == seq).all() and (tok % 1000 == pos).all()
    assert sorted(np.bincount(seq, minlength={THREADS}).tolist()) == sorted(landed)
print("ok")
""")
    assert out.startswith("ok"), out


def test_model_closed_while_threads_use_it(model_path: Path) -> None:
    # 3 threads tokenize, detokenize and read properties while the main thread closes the model:
    # each call returns its result or raises ClosedError, never touches freed weights; 50 rounds
    out = run_child(
        """
closed_seen = []  # list.append is atomic without the GIL too; += on an int is not
for round in range(50):
    model = L.Model(sys.argv[1])
    expected = model.tokenize("the quick brown fox")
    started = threading.Barrier(4)
    def use(kind):
        started.wait()
        while True:
            try:
                if kind == 0:
                    assert model.tokenize("the quick brown fox").tolist() == expected.tolist()
                elif kind == 1:
                    assert model.detokenize(expected)
                else:
                    assert model.n_embd > 0 and model.token_to_piece(expected[-1]) and model.metadata()
            except L.ClosedError:
                closed_seen.append(kind)
                return
            except BaseException as e:  # anything else fails the test with its name
                closed_seen.append(f"{kind}: {type(e).__name__}: {e}")
                return
    threads = [threading.Thread(target=use, args=(k,)) for k in range(3)]
    for t in threads: t.start()
    started.wait()
    model.close()
    for t in threads: t.join()
    assert model.closed
odd = [c for c in closed_seen if isinstance(c, str)]
assert not odd, odd
print("ok", len(closed_seen))
""",
        str(model_path),
    )
    assert out.startswith("ok 150"), out
