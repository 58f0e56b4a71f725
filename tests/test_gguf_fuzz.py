"""A seeded corpus of mutated tiny GGUF files (both kinds): every file loads (and generates)
or fails with a typed llama_mtp error. No crash, no hang, no other exception type.

Each case runs in a worker subprocess (src/llama_mtp/_fuzz_runner.py); a crash or hang ends that
worker and a new one carries on, so every finding is counted. More seeds:
scripts/fuzz_gguf.py."""

from __future__ import annotations

import pytest

from llama_mtp import _fuzz, _fuzz_runner

N_CASES = 4000  # about 30 s on 2 cores


def test_mutated_gguf_corpus(tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]) -> None:
    cache = tmp_path_factory.mktemp("fuzz")
    report = _fuzz_runner.run_cases(list(_fuzz.corpus(N_CASES)), cache, jobs=2, timeout_s=20.0)
    with capsys.disabled():
        print("\ngguf fuzz corpus:", report.summary())
    assert report.tried == N_CASES
    assert report.crashes == [], report.summary()
    assert report.hangs == [], report.summary()
    assert report.wrong_type == [], report.summary()
    # the corpus must exercise both outcomes, or it tests nothing
    assert report.successes > 0 and report.typed_errors > 0
    assert report.successes + report.typed_errors == N_CASES
