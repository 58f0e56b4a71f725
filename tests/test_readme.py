"""The README's Python code blocks run, in order, on a tiny model (its path in place of the
example's file name)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_code_blocks_run(model_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocks = python_blocks()
    assert len(blocks) >= 2
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(compile(block.replace("model-with-mtp.gguf", str(model_path)), str(README), "exec"), namespace)
    # the manual loop's greedy output is plain greedy decoding's
    import llama_mtp

    plain = llama_mtp.generate(llama_mtp.Model(model_path), "Once upon a time", max_tokens=64, mtp=False)
    out = namespace["out"]
    assert isinstance(out, list) and out[:64] == plain.tokens
    assert capsys.readouterr().out  # the quick start printed text
