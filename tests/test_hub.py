"""Model.from_pretrained through huggingface_hub's cache, offline (HF_HUB_OFFLINE=1, a cache
laid out as the Hub client writes it): no network in tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from child import run_child

import llama_mtp

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def populate_cache(cache: Path, repo_id: str, files: dict[str, Path]) -> Path:
    """A Hub cache holding `files` (name -> source) at COMMIT, the revision 'main' points to."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / COMMIT
    for name, source in files.items():
        (snapshot / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, snapshot / name)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(COMMIT)
    return snapshot


@pytest.fixture()
def offline_cache(tmp_path: Path, dense_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "hub"
    populate_cache(
        cache,
        "tiny-org/tiny-mtp-GGUF",
        {
            "tiny-mtp-Q8_0.gguf": dense_path,
            "split/big-00001-of-00002.gguf": dense_path,
            "split/big-00002-of-00002.gguf": dense_path,
            "other/a-F16.gguf": dense_path,
            "other/b-F16.gguf": dense_path,
        },
    )
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("HF_HOME", raising=False)
    return cache


def test_from_pretrained_loads_from_the_cache_offline(offline_cache: Path) -> None:
    out = run_child("""
        m = L.Model.from_pretrained("tiny-org/tiny-mtp-GGUF", "tiny-mtp-Q8_0.gguf")
        print(m.path)
        print(m.has_mtp, len(L.generate(m, "Hi", max_tokens=5, ignore_eos=True).tokens))
        g = L.Model.from_pretrained("tiny-org/tiny-mtp-GGUF", "*Q8_0.gguf", load_mtp=False)
        print(g.path, g.has_mtp)
        s = L.Model.from_pretrained("tiny-org/tiny-mtp-GGUF", "split/big-*.gguf", vocab_only=True)
        print(s.path)
    """)
    lines = out.splitlines()
    assert lines[0].startswith(str(offline_cache)) and lines[0].endswith(f"{COMMIT}/tiny-mtp-Q8_0.gguf")
    assert lines[1] == "True 5"
    assert lines[2].endswith("tiny-mtp-Q8_0.gguf False")  # model_kwargs reach Model()
    assert lines[3].endswith("split/big-00001-of-00002.gguf")


def test_missing_files_and_ambiguous_globs_are_typed_errors(offline_cache: Path) -> None:
    out = run_child("""
        for repo, name in [("tiny-org/tiny-mtp-GGUF", "nope.gguf"), ("tiny-org/absent", "x.gguf"),
                           ("tiny-org/tiny-mtp-GGUF", "*Q2_K.gguf"), ("tiny-org/tiny-mtp-GGUF", "other/*.gguf")]:
            try:
                L.Model.from_pretrained(repo, name)
                print("loaded", name)
            except L.ModelNotFoundError as e:
                print(type(e).__name__, isinstance(e, FileNotFoundError), str(e).split(":")[0])
    """)
    assert out.splitlines() == [
        "ModelNotFoundError True tiny-org/tiny-mtp-GGUF",
        "ModelNotFoundError True tiny-org/absent",
        "ModelNotFoundError True tiny-org/tiny-mtp-GGUF",
        "ModelNotFoundError True tiny-org/tiny-mtp-GGUF",
    ]


def test_from_pretrained_places_layers_on_rpc_workers(offline_cache: Path) -> None:
    """rpc_servers and n_gpu_layers reach Model(): the layers land on the worker."""
    out = run_child("""
        from llama_mtp.rpc import LocalRpcServer
        with LocalRpcServer(n_threads=1) as worker:
            m = L.Model.from_pretrained("tiny-org/tiny-mtp-GGUF", "tiny-mtp-Q8_0.gguf", rpc_servers=[worker.endpoint])
            on = [d["rpc_endpoint"] == worker.endpoint for d in m.devices if d["layers"]]
            print(m.rpc_servers == [worker.endpoint], on, len(L.generate(m, "Hi", max_tokens=5, ignore_eos=True).tokens))
    """)
    assert out.strip() == "True [True] 5"


def test_a_repository_id_the_hub_cannot_name_is_a_typed_error(offline_cache: Path) -> None:
    with pytest.raises(llama_mtp.InvalidArgumentError, match="not a Hub repository id"):
        llama_mtp.Model.from_pretrained("../../etc", "model.gguf", local_files_only=True)
