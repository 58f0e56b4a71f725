"""`llama-mtp bench --calibrate` (llama_mtp/_calibrate.py): every draft length measured once and
stored where n_draft_max="adaptive" reads it. Verdicts on what was stored, never on its timings."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

import llama_mtp
from llama_mtp import _cost_cache
from llama_mtp._calibrate import _outcomes, calibrate
from llama_mtp.cli import main
from llama_mtp.sizing import AUTO_DRAFT_MAX


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LLAMA_MTP_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("LLAMA_MTP_COST_CACHE", raising=False)
    return tmp_path


def test_a_calibration_measures_every_length_and_auto_starts_there(model: llama_mtp.Model, cache_dir: Path) -> None:
    c = calibrate(model, prompt="Once upon a time", n_threads=1, budget_seconds=2.0)
    assert len(c.step_seconds) == AUTO_DRAFT_MAX + 1 and all(s > 0 for s in c.step_seconds)
    assert c.key is not None and (cache_dir / "costs" / f"{c.key}.json").is_file()
    # the entry generate() reads for these settings is this state, every length measured
    key = _cost_cache.cost_key(model, n_threads=1, exact=False, n_draft_max=AUTO_DRAFT_MAX)
    assert key == c.key and _cost_cache.load(key) == c.state
    # every length stored as measured (two steps each). Not read back through start_from's
    # measured flags: start_from drops a plain cost above a verify of more rows (a load that
    # came between the runs), a verdict of the machine's load, not of the calibration
    assert c.state["cost_samples"] == [2] * (AUTO_DRAFT_MAX + 1)
    # the next "auto" call starts from it: its first step is what a controller started from the
    # stored state chooses (a function of the state alone, however loaded the machine is)
    g = llama_mtp.generate(model, "Once upon a time", max_tokens=8, n_threads=1)
    assert g.controller is not None
    replay = llama_mtp.DraftController(g.controller.n_max, plain_skips_process=True)
    replay.start_from(c.state)
    assert g.draft_lengths[0] == replay.next()


def test_the_cost_cache_off_stores_nothing(model: llama_mtp.Model, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLAMA_MTP_COST_CACHE", "0")
    c = calibrate(model, prompt="Once upon a time", n_threads=1, budget_seconds=1.0)
    assert c.key is None and not (cache_dir / "costs").exists()


def test_outcomes_follow_accepted_at() -> None:
    # 5 drafts of 3: accepted_at[i] = drafts with more than i accepted -> lengths 0, 1, 1, 3, 3
    g = SimpleNamespace(drafter_stats={"mtp": {"drafts": 5, "accepted_at": [4, 2, 2]}})
    assert sorted(_outcomes(g, 3)) == [0, 1, 1, 3, 3]  # type: ignore[arg-type]
    assert _outcomes(SimpleNamespace(drafter_stats={}), 2) == []  # type: ignore[arg-type]


def test_the_command(
    capsys: pytest.CaptureFixture[str], model_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["bench", "--calibrate", "-m", str(model_path), "-t", "1", "--calibrate-seconds", "1"]) == 0
    out = capsys.readouterr().out
    assert "every draft length measured" in out and "cost cache entry" in out
    assert len(list((cache_dir / "costs").glob("*.json"))) == 1
    import llama_mtp._cli_bench as cli  # where bench opens its model

    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "--calibrate", "-m", str(model_path), "--calibrate-seconds", "0"])
    assert exit_info.value.code == 2 and "--calibrate-seconds: expected a number in (0.0" in capsys.readouterr().err
    monkeypatch.setattr(cli, "Model", lambda path, **kw: llama_mtp.Model(path, load_mtp=False, **kw))
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "--calibrate", "-m", str(model_path)])
    assert exit_info.value.code == 2 and "nothing to calibrate" in capsys.readouterr().err
