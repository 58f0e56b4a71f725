"""What n_draft_max="adaptive" learned, kept on disk so that a later call or process starts there.

A DraftController's state (acceptance per draft position, seconds per draft length, its probe
gap) is a property of model x machine x settings, so it is stored per model file (path, size,
modification time), machine (architecture, CPU, core count), where the weights are (devices),
thread count, exact mode, the longest draft and the draft vocabulary's size. The next generate()/stream()/chat() with the
same key starts its controller from it (DraftController.start_from: no warm-up, small weight),
with contexts and controller sized to the lengths that may pay (lengths_in_use), and writes
back what it ended with.

- where: costs/ in llama-mtp's cache directory ($LLAMA_MTP_CACHE_DIR, default ~/.cache/llama-mtp);
- $LLAMA_MTP_COST_CACHE=0 (or off/false/no): neither read nor written.
Unreadable or malformed entries are ignored (and rewritten by the next call): an entry is read
only from a regular file of at most MAX_ENTRY_BYTES, and any failure to parse it is a miss.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import stat
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

from ._cache_dir import default_cache_dir, file_cache_key
from ._core import DraftController, InvalidArgumentError, Model, default_threads

ENV_SWITCH = "LLAMA_MTP_COST_CACHE"
# 2: costs measured per length (format 1 held costs extrapolated from a line; not read)
FORMAT = 2
# a generation shorter than this has not learned enough to be worth keeping
MIN_STEPS = 16
# a controller's state is a few kB; anything much larger is not one of ours
MAX_ENTRY_BYTES = 1 << 20


def cost_cache_dir() -> Path | None:
    """The directory of the cost cache, or None when it is turned off."""
    if os.environ.get(ENV_SWITCH, "").strip().lower() in ("0", "off", "false", "no"):
        return None
    return default_cache_dir() / "costs"


@cache
def _cpu_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


def cost_key(model: Model, *, n_threads: int | None, exact: bool, n_draft_max: int, draft_vocab: int | None = None) -> str | None:
    """The cache key of a generation's costs (a hex digest); None where the model's file is gone."""
    devices = [(d["name"], d["description"], d["rpc_endpoint"], len(d["layers"])) for d in model.devices]
    return file_cache_key(
        model.path,
        format=FORMAT,
        machine=platform.machine(),
        cpu=_cpu_name(),
        cpus=os.cpu_count(),
        devices=devices,
        threads=n_threads or default_threads(),
        exact=exact,
        n_draft_max=n_draft_max,
        draft_vocab=draft_vocab,
    )


def load(key: str) -> dict[str, Any] | None:
    """The stored controller state of key, or None (no entry, cache off, unreadable)."""
    directory = cost_cache_dir()
    if directory is None:
        return None
    entry = _read_entry(directory / f"{key}.json")
    state = entry.get("state") if isinstance(entry, dict) and entry.get("format") == FORMAT else None
    return state if isinstance(state, dict) else None


def _read_entry(path: Path) -> Any:
    """The parsed JSON of a regular file of bounded size, or None: a FIFO, a device, a link to
    /dev/zero or a huge file is never read, and no parse failure (recursion included) escapes."""
    try:
        # O_NONBLOCK: opening a FIFO does not wait for a writer (it is refused just below)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_ENTRY_BYTES:
            return None
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(MAX_ENTRY_BYTES + 1)
        if len(data) > MAX_ENTRY_BYTES:
            return None
        return json.loads(data)
    except (OSError, ValueError, RecursionError, MemoryError):
        return None
    finally:
        os.close(fd)


def save(key: str, state: dict[str, Any]) -> None:
    """Store state under key (atomically: a concurrent reader sees the old entry or the new)."""
    directory = cost_cache_dir()
    if directory is None:
        return
    with contextlib.suppress(OSError):  # a read-only or full disk costs the cache, not the call
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{key}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump({"format": FORMAT, "state": state}, f)
            os.replace(tmp, directory / f"{key}.json")
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)


def lengths_in_use(state: dict[str, Any] | None, ceiling: int) -> int:
    """The longest draft a generation starting from state may need: one beyond the longest
    length that may plausibly pay (DraftController.plausible_speed at or above the best
    expected speed; the one beyond for the probes above it), at least 1 (the probes of drafting
    from plain decoding); the ceiling without a usable state. A hybrid target keeps one
    recurrent-state snapshot per draft position on every step, plain ones too (2-5 % of a
    decode at 3-6 snapshots on the tiny hybrid model), so the contexts are sized to this."""
    if state is None:
        return ceiling
    controller = DraftController(ceiling, plain_skips_process=True)
    try:
        controller.start_from(state)
    except (InvalidArgumentError, TypeError):
        return ceiling
    best = float(controller.expected_speed.max())
    if best <= 0:
        return ceiling
    speeds = controller.plausible_speed
    plausible = [k for k in range(1, ceiling + 1) if speeds[k] >= best]
    return min(ceiling, max(plausible, default=0) + 1)


def start(generator: Any, state: dict[str, Any]) -> bool:
    """Start generator's controller from a stored state; whether it took it."""
    try:
        generator.start_controller_from(state)
    except (InvalidArgumentError, TypeError):  # written by another version: start afresh
        return False
    return True
