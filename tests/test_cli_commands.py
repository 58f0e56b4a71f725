"""Every `llama-mtp ...` command line written in the workflows, the scripts they call, .ci/run,
README.md, docs/, benchmarks/ and examples/ is one the CLI accepts: each is parsed (not run) by
the CLI's own argparse parser, as main() parses it. The release workflow once checked the sdist
with `llama-mtp demo --tokens 16` after the option had become -n/--max-tokens, and no tag could
publish; nothing ran the workflows to notice.

What counts as a command line:
- shell text (the workflows' lines, scripts/*.sh, .ci/run, fenced non-Python blocks in Markdown):
  a simple command (split at ;, &&, ||, |) whose program is llama-mtp, by any path
  (/tmp/x/bin/llama-mtp, "$venv/bin/llama-mtp"), backslash continuations joined;
- Markdown prose and Python docstrings: an inline code span that begins with `llama-mtp <command>`.
  A span of the bare name (`llama-mtp` in the wheel table) is the distribution, not a command line,
  and prose outside code is not read.
Synopsis markup is read as a user would: [optional] brackets dropped, `auto|N` takes its first
alternative, `...` dropped; placeholder values (N, P, T) get a plausible value of their option's
type and shell variables in arguments get one from SHELL_VALUES (one unknown there fails the test).
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

from llama_mtp import cli

ROOT = Path(__file__).resolve().parent.parent
SHELL_OPERATORS = {";", "&&", "||", "|", "&", "(", ")"}
# synopsis placeholders whose option needs a number (strings such as MODEL.gguf, PROMPT, KEY stay)
PLACEHOLDERS = {"N": "4", "P": "0.5", "T": "0.7"}
# shell variables allowed in a llama-mtp command's arguments, with a value of the right kind
SHELL_VALUES: dict[str, str] = {}


def shell_sources() -> list[Path]:
    return [
        *sorted((ROOT / ".github" / "workflows").glob("*.yml")),
        *sorted((ROOT / "scripts").glob("*.sh")),
        ROOT / ".ci" / "run",
    ]


def markdown_sources() -> list[Path]:
    return [
        ROOT / "README.md",
        *sorted((ROOT / "docs").rglob("*.md")),
        ROOT / "benchmarks" / "README.md",
        *sorted((ROOT / "examples").glob("*.md")),
    ]


def python_sources() -> list[Path]:
    return [*sorted((ROOT / "examples").glob("*.py")), *sorted((ROOT / "benchmarks").glob("*.py"))]


def shell_commands(text: str, yaml: bool = False) -> list[str]:
    """The llama-mtp command lines in shell text (a workflow's lines when yaml)."""
    found = []
    for line in re.sub(r"\\\n", " ", text).splitlines():
        if "llama-mtp" not in line:
            continue
        if yaml:  # a step's `- run: ...` or `key: ...` prefix
            line = re.sub(r"^\s*(?:-\s+)?[\w-]+:\s+(?=\S)", "", line)
        line = re.sub(r"^\s*\$\s+", "", line)  # a console prompt
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words: list[str] = []
        for word in [*lexer, ";"]:
            if word not in SHELL_OPERATORS:
                words.append(word)
                continue
            while words and re.fullmatch(r"[A-Za-z_]\w*=.*", words[0]):  # VAR=value before the program
                words.pop(0)
            if words and words[0].rsplit("/", 1)[-1] == "llama-mtp":
                found.append(shlex.join(["llama-mtp", *words[1:]]))
            words = []
    return found


def inline_commands(text: str) -> list[str]:
    """`llama-mtp <command> ...` code spans (they may run over a line break)."""
    spans = (" ".join(s.split()) for s in re.findall(r"`([^`]+)`", text))
    return [s for s in spans if re.match(r"llama-mtp [a-z]", s)]


def markdown_commands(text: str) -> list[str]:
    found = []
    fence = re.compile(r"^```(\w*)\n(.*?)^```", flags=re.S | re.M)
    for lang, body in fence.findall(text):
        if lang != "python":
            found += shell_commands(body)
    return found + inline_commands(fence.sub("", text))


def command_lines() -> list[tuple[str, str]]:
    """(where, command line) for every llama-mtp command line in the sources."""
    found = []
    for path in filter(Path.is_file, shell_sources()):  # the sdist leaves .ci/ out
        found += [(path, c) for c in shell_commands(path.read_text(), yaml=path.suffix == ".yml")]
    for path in markdown_sources():
        found += [(path, c) for c in markdown_commands(path.read_text())]
    for path in python_sources():
        found += [(path, c) for c in inline_commands(path.read_text())]
    return [(str(path.relative_to(ROOT)), c) for path, c in found]


def argv_of(command_line: str) -> list[str]:
    """The arguments after llama-mtp, synopsis markup read as a user would."""
    text = re.sub(r"(?<=\S)\|\S+", "", command_line)  # auto|N: the first alternative
    argv = []
    for word in shlex.split(text)[1:]:
        word = word.strip("[]")
        if word in ("", "..."):
            continue
        for name, value in SHELL_VALUES.items():
            word = word.replace(f"${{{name}}}", value).replace(f"${name}", value)
        assert "$" not in word, f"{command_line!r}: give {word!r} a value in SHELL_VALUES"
        argv.append(PLACEHOLDERS.get(word, word))
    return argv


def parse(argv: list[str]) -> str | None:
    """None when main() would accept argv, else argparse's complaint (nothing is run)."""
    parser, commands = cli._parser()
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            args, extra = parser.parse_known_args(argv)
    except SystemExit:
        return err.getvalue().strip() or "exit"
    command = getattr(args, "command", None)
    if not command:
        return "no subcommand"
    if extra:  # main() refuses them as well
        return f"unrecognized arguments: {' '.join(extra)}"
    # options spelled out in full: argparse takes a unique prefix, which a new option can make ambiguous
    known = commands[command]._option_string_actions.keys() | parser._option_string_actions.keys()
    abbreviated = [a.split("=", 1)[0] for a in argv if a.startswith("--") and a.split("=", 1)[0] not in known]
    return f"abbreviated options {abbreviated}" if abbreviated else None


COMMANDS = command_lines()


def test_the_command_lines_are_found() -> None:
    # an extraction bug must not leave the parsing test with nothing to check
    assert len(COMMANDS) >= 12, COMMANDS
    where = {w for w, _ in COMMANDS}
    assert {"README.md", "benchmarks/README.md", "scripts/check_sdist.sh"} <= where, where
    subcommands = {argv_of(c)[0] for _, c in COMMANDS}
    assert {"demo", "generate", "info", "bench", "serve", "rpc-server"} <= subcommands
    # the synopsis spans run over a line break and carry brackets, alternatives and placeholders
    assert any(c.startswith("llama-mtp generate -m MODEL.gguf -p PROMPT [--n-draft-max adaptive|N") for _, c in COMMANDS)


@pytest.mark.parametrize(("where", "command_line"), COMMANDS, ids=[f"{w}: {c}" for w, c in COMMANDS])
def test_every_written_command_line_parses(where: str, command_line: str) -> None:
    problem = parse(argv_of(command_line))
    assert problem is None, f"{where}: {command_line!r} is not accepted by the CLI: {problem}"


def test_the_checker_refuses_what_the_cli_refuses() -> None:
    # the old release-workflow line, an unknown subcommand, a bad value, an abbreviation
    assert "unrecognized arguments: --tokens 16" in str(parse(argv_of("llama-mtp demo --tokens 16")))
    assert parse(argv_of("llama-mtp demo --max-tokens 16")) is None
    assert parse(["dmeo"]) is not None
    assert parse(["serve", "--port", "http"]) is not None
    assert parse(["demo", "--max-tok", "16"]) is not None
    assert shell_commands('pip install llama-mtp && "$v/bin/llama-mtp" demo -n 16 | tail -3') == ["llama-mtp demo -n 16"]
    [synopsis] = inline_commands("`llama-mtp` or `llama-mtp generate -m M.gguf\n-p X [--p-min P --top-k N ...]`")
    assert parse(argv_of(synopsis)) is None
    assert "--p-minimum" in str(parse(argv_of(synopsis.replace("--p-min", "--p-minimum"))))


def test_the_sdist_job_and_ci_run_the_same_script() -> None:
    # the wheels workflow's sdist job and .ci/run perform one set of steps, so they cannot drift apart
    if not (ROOT / ".ci" / "run").is_file():
        pytest.skip("no .ci/run here (the sdist leaves it out)")
    workflow = (ROOT / ".github" / "workflows" / "wheels.yml").read_text()
    sdist_job = workflow.split("\n  sdist:\n", 1)[1].split("\n\n", 1)[0]
    assert "scripts/check_sdist.sh" in sdist_job
    assert "scripts/check_sdist.sh" in (ROOT / ".ci" / "run").read_text()
