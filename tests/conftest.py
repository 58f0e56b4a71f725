from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

import llama_mtp
from llama_mtp.testing import TinyModelSpec, tiny_model_spec, tiny_mtp_model

settings.register_profile("ci", deadline=None, max_examples=25, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, max_examples=10)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

llama_mtp.set_log_level(os.environ.get("LLAMA_MTP_TEST_LOG_LEVEL", "none"))
# Tests start every "auto" controller afresh, whatever earlier tests or runs learned
# (test_cost_cache.py turns the cache on in a directory of its own); children inherit it.
os.environ["LLAMA_MTP_COST_CACHE"] = "0"


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    env = os.environ.get("LLAMA_MTP_CACHE_DIR") or os.environ.get("LLAMA_MTP_CACHE")
    return Path(env) if env else tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session", params=["dense", "hybrid"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def model_path(model_dir: Path, kind: str) -> Path:
    return tiny_mtp_model(model_dir / f"tiny-{kind}.gguf", kind=kind)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def spec(kind: str) -> TinyModelSpec:
    return tiny_model_spec(kind=kind)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def dense_path(model_dir: Path) -> Path:
    return tiny_mtp_model(model_dir / "tiny-dense.gguf", kind="dense")


@pytest.fixture()
def model(model_path: Path) -> llama_mtp.Model:
    return llama_mtp.Model(str(model_path))


@pytest.fixture()
def dense_model(dense_path: Path) -> llama_mtp.Model:
    return llama_mtp.Model(str(dense_path))


@pytest.fixture()
def ctx(model: llama_mtp.Model) -> llama_mtp.Context:
    return llama_mtp.Context(model, n_ctx=512, n_batch=64, n_threads=2)
