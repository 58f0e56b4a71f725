"""The README's Python code blocks run, in order, on a tiny model (its path in place of the
example's file name)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from chat_helpers import chat_model_path
from server_helpers import ServerProcess

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_code_blocks_run(
    kind: str, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a tiny model with a chat template (and its special tokens), as the chat examples assume
    model_path = chat_model_path(tmp_path, kind=kind)
    blocks = python_blocks()
    assert len(blocks) >= 4
    # from_pretrained: the repository's file is in a Hub cache laid out as huggingface_hub writes
    # it, and the Hub client is offline (no network in tests)
    from huggingface_hub import constants
    from test_hub import populate_cache

    populate_cache(tmp_path / "hub", "example-org/Qwen3.5-MTP-GGUF", {"qwen3.5-mtp-Q4_K_M.gguf": model_path})
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.chdir(tmp_path)  # the blocks write files by relative names (a quantized copy)
    # the openai client's block talks to a server this test starts on a free port
    server = ServerProcess(model_path, "-c", "2048")
    namespace: dict[str, object] = {}
    try:
        for block in blocks:
            code = block.replace("model-with-mtp.gguf", str(model_path)).replace("http://127.0.0.1:8080", server.url)
            exec(compile(code, str(README), "exec"), namespace)
    finally:
        assert server.stop()
    # the manual loop's greedy output is plain greedy decoding's
    import llama_mtp

    plain = llama_mtp.generate(llama_mtp.Model(model_path), "Once upon a time", max_tokens=64, draft="none")
    out = namespace["out"]
    assert isinstance(out, list) and out[:64] == plain.tokens
    assert capsys.readouterr().out  # the quick start printed text
