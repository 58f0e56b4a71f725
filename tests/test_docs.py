"""The README and the docs are true: their Python code blocks run, in order per page, on a tiny
model (its path in place of the examples' file name); every `llama_mtp` name they mention
resolves (tests/test_cli_commands.py parses their command lines); every public object has a docstring
(the API reference is generated from them) and their code blocks run too."""

from __future__ import annotations

import inspect
import re
import textwrap
from pathlib import Path

import pytest
from chat_helpers import chat_model_path
from server_helpers import ServerProcess

import llama_mtp

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")), ROOT / "CHANGELOG.md", ROOT / "benchmarks" / "README.md"]
PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.S)
# the modules a bare name in backticks may come from
MODULES = [
    "llama_mtp",
    "llama_mtp.options",
    "llama_mtp.rpc",
    "llama_mtp.shapes",
    "llama_mtp.testing",
    "llama_mtp.serving",
    "llama_mtp.chat",
    "llama_mtp.drafters",
    "llama_mtp._jobs",
    "builtins",
]
# CamelCase names the pages mention that are not Python: C++ classes of the engine, upstream's
# and other projects' types
NOT_PYTHON = {"ThreadController", "SpeculativeConfig", "GGUFWriter", "GGUFReader"}
# pages whose backticks hold another language's names (the Rust crate's, beside ours)
OTHER_LANGUAGE = {"porting-from-rust.md"}


def pages_with_python() -> list[Path]:
    return [p for p in PAGES if p.exists() and PYTHON_BLOCK.search(p.read_text())]


def run_page(page: Path, model_path: Path, server: ServerProcess) -> dict[str, object]:
    namespace: dict[str, object] = {}
    for block in PYTHON_BLOCK.findall(page.read_text()):
        code = block.replace("model-with-mtp.gguf", str(model_path)).replace("http://127.0.0.1:8080", server.url)
        exec(compile(code, str(page), "exec"), namespace)
    return namespace


@pytest.fixture
def docs_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str) -> tuple[Path, ServerProcess]:
    # a tiny model with a chat template (and its special tokens), as the chat examples assume
    model_path = chat_model_path(tmp_path, kind=kind)
    # from_pretrained: the repository's file is in a Hub cache laid out as huggingface_hub writes
    # it, and the Hub client is offline (no network in tests)
    from huggingface_hub import constants
    from test_hub import populate_cache

    populate_cache(tmp_path / "hub", "example-org/Qwen3.5-MTP-GGUF", {"qwen3.5-mtp-Q4_K_M.gguf": model_path})
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.chdir(tmp_path)  # the blocks write files by relative names (a quantized copy)
    # the openai client's blocks talk to a server this fixture starts on a free port
    server = ServerProcess(model_path, "-c", "2048")
    yield model_path, server
    assert server.stop()


@pytest.mark.parametrize("page", pages_with_python(), ids=lambda p: str(p.relative_to(ROOT)))
def test_code_blocks_run(page: Path, docs_env: tuple[Path, ServerProcess], capsys: pytest.CaptureFixture[str]) -> None:
    model_path, server = docs_env
    namespace = run_page(page, model_path, server)
    if page.name == "internals.md":  # the manual loop's greedy output is plain greedy decoding's
        plain = llama_mtp.generate(llama_mtp.Model(model_path), "Once upon a time", max_tokens=64, draft="none")
        out = namespace["out"]
        assert isinstance(out, list) and out[:64] == plain.tokens
    if page.name in ("README.md", "getting-started.md"):
        assert capsys.readouterr().out  # the quick start printed text


def test_the_readme_is_a_front_page() -> None:
    text = (ROOT / "README.md").read_text()
    assert len(text.encode()) <= 10 * 1024
    first_screen = "\n".join(text.splitlines()[:40])
    assert "pip install llama-mtp" in first_screen
    # its two first commands: install and run the demo, install and run the tests
    assert text.splitlines()[3:5] == ["pip install . && llama-mtp demo", 'pip install ".[test]" && python -m pytest tests']


def test_the_pages_that_run_code_are_the_ones_expected() -> None:
    names = {p.name for p in pages_with_python()}
    assert {
        "README.md",
        "getting-started.md",
        "options.md",
        "drafting.md",
        "exactness.md",
        "chat.md",
        "server.md",
        "rpc.md",
        "internals.md",
    } <= names


def resolve(dotted: str) -> object:
    import importlib

    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(dotted)


def test_every_name_the_pages_mention_resolves() -> None:
    import importlib

    missing: list[str] = []
    for page in PAGES:
        text = page.read_text()
        for dotted in set(re.findall(r"\bllama_mtp(?:\.[A-Za-z_]\w*)+", text)):
            try:
                resolve(dotted)
            except (ImportError, AttributeError):
                missing.append(f"{page.name}: {dotted}")
        # a class-like name in backticks, alone or called: `DraftConfig`, `LLM(...)`, `Model.devices`
        if page.name in OTHER_LANGUAGE:
            continue
        for name in set(re.findall(r"`([A-Z][A-Za-z0-9]*[a-z][A-Za-z0-9]*)(?:[.(][^`]*)?`", text)):
            if name in NOT_PYTHON or not re.search(r"[a-z][A-Z]|Error$|^[A-Z][a-z]+$", name):
                continue
            if not any(hasattr(importlib.import_module(m), name) for m in MODULES):
                missing.append(f"{page.name}: `{name}`")
    assert not missing, missing


def public_objects() -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    for name in llama_mtp.__all__:
        obj = getattr(llama_mtp, name)
        if inspect.isclass(obj) and issubclass(obj, BaseException) or not callable(obj):
            continue  # errors: the error reference lists their docstrings; constants: none
        out.append((name, obj))
        if inspect.isclass(obj):
            for attr, member in vars(obj).items():
                if not attr.startswith("_") and (callable(member) or isinstance(member, property)):
                    out.append((f"{name}.{attr}", member))
    return out


def test_every_public_object_has_a_docstring() -> None:
    undocumented = [name for name, obj in public_objects() if not (inspect.getdoc(obj) or "").strip()]
    assert not undocumented, undocumented


def test_docstring_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LLAMA_MTP_CACHE_DIR", str(tmp_path))
    blocks = [(name, b) for name, obj in public_objects() for b in PYTHON_BLOCK.findall(inspect.getdoc(obj) or "")]
    assert blocks, "no example in the public docstrings"
    for name, block in blocks:
        exec(compile(textwrap.dedent(block), f"<{name} docstring>", "exec"), {})
    assert capsys.readouterr().out
