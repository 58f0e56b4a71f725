"""GGUF mutation fuzzing, the crash-isolating runner (private): files are loaded in worker
subprocesses that report each case before and after it runs, so a crash or a hang kills one
worker, not the run."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ._fuzz import KINDS, base_model, mutate


def exercise(path: str) -> str:
    """Load a file every way the fuzzer checks; 'ok' or the typed error's class name.

    Anything other than a llama_mtp.LlamaError propagates: that is a finding."""
    import llama_mtp

    try:
        with llama_mtp.Model(path, vocab_only=True) as vocab:
            vocab.tokenize("Hello world, 123!")
        with llama_mtp.Model(path) as model:
            gen = llama_mtp.generate(model, "Hi there", max_tokens=4, mtp=model.has_mtp, n_threads=1)
            assert isinstance(gen, llama_mtp.Generation)
    except llama_mtp.LlamaError as e:
        return type(e).__name__
    return "ok"


# ggml's abort handler may run gdb, which writes to the same stdout: protocol lines carry a mark
_MARK = "@@gguf-fuzz "


def _worker(cache_dir: str) -> None:
    """Reads 'kind seed' lines; prints 'begin i' before and 'end i outcome' after each case."""
    import llama_mtp

    llama_mtp.set_log_level("none")
    bases = {k: base_model(k, Path(cache_dir)) for k in KINDS}
    fd, tmp = tempfile.mkstemp(suffix=".gguf", dir=cache_dir)
    os.close(fd)
    try:
        for line in sys.stdin:
            kind, seed = line.split()
            data, _ = mutate(bases[kind], int(seed))
            Path(tmp).write_bytes(data)
            print(f"{_MARK}begin {kind} {seed}", flush=True)
            try:
                outcome = exercise(tmp)
            except Exception as e:  # noqa: BLE001 - reported, the parent counts it as wrong-type
                outcome = f"WRONG_TYPE {type(e).__name__}: {str(e)[:200]!r}"
            print(f"{_MARK}end {kind} {seed} {outcome}", flush=True)
    finally:
        os.unlink(tmp)


@dataclass
class Report:
    tried: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    crashes: list[tuple[str, int, str]] = field(default_factory=list)
    hangs: list[tuple[str, int]] = field(default_factory=list)
    wrong_type: list[tuple[str, int, str]] = field(default_factory=list)

    @property
    def successes(self) -> int:
        return self.outcomes.get("ok", 0)

    @property
    def typed_errors(self) -> int:
        return sum(n for k, n in self.outcomes.items() if k != "ok")

    def summary(self) -> str:
        return (
            f"tried {self.tried}: {self.successes} loaded and generated, {self.typed_errors} typed errors "
            f"{dict(sorted(self.outcomes.items()))}, {len(self.crashes)} crashes, {len(self.hangs)} hangs, "
            f"{len(self.wrong_type)} wrong-type exceptions"
        )


class _Worker:
    def __init__(self, cache_dir: Path) -> None:
        # stderr to a file: a pipe nobody reads would fill up with upstream's messages and block
        self.stderr = tempfile.TemporaryFile(dir=cache_dir)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", f"from llama_mtp._fuzz_runner import _worker; _worker({str(cache_dir)!r})"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            bufsize=1,
            env={**os.environ, "OMP_NUM_THREADS": "1", "GGML_NO_BACKTRACE": "1"},
        )
        self.buf = ""
        self.eof = False  # stdout closed: the worker exited (or crashed)

    def readline(self, deadline: float) -> str | None:
        """The next protocol line (without its mark), or None at EOF or past the deadline."""
        while True:
            line = self._rawline(deadline)
            if line is None or line.startswith(_MARK):
                return None if line is None else line[len(_MARK) :]

    def _rawline(self, deadline: float) -> str | None:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while "\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, 65536).decode(errors="replace")
            if not chunk:
                self.eof = True
                return None
            self.buf += chunk
        line, self.buf = self.buf.split("\n", 1)
        return line

    def stop(self) -> str:
        """Ends the worker; returns the tail of its stderr."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        self.stderr.seek(0)
        err = self.stderr.read()[-400:].decode(errors="replace")
        self.stderr.close()
        return err


def run_cases(
    cases: Sequence[tuple[str, int]],
    cache_dir: Path,
    *,
    jobs: int = 2,
    timeout_s: float = 20.0,
    on_finding: Callable[[str, str, int, str], None] | None = None,
) -> Report:
    """Run every (kind, seed) case in `jobs` worker processes; a crash or hang restarts one worker."""
    for k in KINDS:
        base_model(k, cache_dir)  # written once, before the workers race for it
    report = Report()
    shards = [list(cases[i::jobs]) for i in range(jobs)]
    lock = threading.Lock()
    failures: list[BaseException] = []

    def run_shard(shard: list[tuple[str, int]]) -> None:
        try:
            _run_shard(shard)
        except BaseException as e:  # noqa: BLE001 - re-raised in the calling thread
            failures.append(e)

    def _run_shard(shard: list[tuple[str, int]]) -> None:
        todo = list(shard)
        w: _Worker | None = None
        while todo:
            kind, seed = todo.pop(0)
            if w is None:
                w = _Worker(cache_dir)
            assert w.proc.stdin is not None
            w.proc.stdin.write(f"{kind} {seed}\n")
            w.proc.stdin.flush()
            line = w.readline(time.monotonic() + 120.0)  # may include the worker's start
            if line is None or not line.startswith("begin"):
                raise RuntimeError(f"fuzz worker failed before case {kind} {seed}: {line!r} {w.stop()}")
            line = w.readline(time.monotonic() + timeout_s)
            detail = line or ""
            with lock:
                report.tried += 1
                if line is None:
                    crashed = w.eof
                    err = w.stop()
                    if crashed:
                        finding, detail = "crash", f"exit {w.proc.returncode}: {err}"
                        report.crashes.append((kind, seed, detail))
                    else:
                        finding, detail = "hang", f"no answer in {timeout_s} s"
                        report.hangs.append((kind, seed))
                    w = None  # gone: a new worker takes the rest
                else:
                    outcome = line.split(" ", 3)[3]
                    finding = ""
                    if outcome.startswith("WRONG_TYPE"):
                        report.wrong_type.append((kind, seed, outcome))
                        finding = "wrong-type"
                    name = outcome.split()[0]
                    report.outcomes[name] = report.outcomes.get(name, 0) + 1
            if finding and on_finding:
                on_finding(finding, kind, seed, detail)
        if w is not None:
            assert w.proc.stdin is not None
            w.proc.stdin.close()
            w.stop()

    threads = [threading.Thread(target=run_shard, args=(s,)) for s in shards if s]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise failures[0]
    return report
