"""The README's examples of commands and what they print, run and compared with what the program prints.

Each example is a fenced block right after a `<!-- checked example ... -->` line: `$ hf-unlearn ...` lines, each
followed by the lines it prints (an expected line ending in ` ...` is cut there: the real line starts with the rest).
They run in a folder laid out like a user's: `recipes/` of this checkout, and the model folders and files the
examples' comments describe. A comment may also name a situation this test creates (`# on a full disk`).
"""

import errno
import re
import shlex
import shutil
from pathlib import Path

import pytest
from helpers import REPO

from hf_unlearn.cli import main

MARKER = "<!-- checked example"
#: comment on an example's command -> (what it needs besides the folder, extra arguments that make it quick)
SITUATIONS = {
    "on a full disk": (
        "disk_full",
        ["--forget-split", "forget01", "--data-source", "bundled", "--limit", "1", "--metrics", "forget_Q_A_Prob"],
    ),
}


def readme_examples() -> list[tuple[str, list[str]]]:
    """(command line, expected output lines) of every checked example, in README order."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    examples = []
    for block in re.findall(re.escape(MARKER) + r".*?-->\n```\w*\n(.*?)\n```", text, flags=re.S):
        for chunk in re.split(r"^\$ ", block, flags=re.M)[1:]:
            command, *output = chunk.splitlines()
            examples.append((command, output))
    return examples


EXAMPLES = readme_examples()


def test_the_readme_has_its_checked_examples():
    commands = [command.split()[1] for command, _ in EXAMPLES]
    assert len(EXAMPLES) >= 11 and {"name", "train", "eval"} <= set(commands)
    assert all(command.startswith("hf-unlearn ") and output for command, output in EXAMPLES)


@pytest.fixture(scope="module")
def user_folder(tmp_path_factory, tiny_dir) -> Path:
    """A user's folder: this checkout's recipes, a model (also where the tiny recipes and the demo put theirs), a
    copy with truncated weights, one without tokenizer files, an empty forget split, a holdout file whose third
    line has no answer."""
    root = tmp_path_factory.mktemp("user")
    (root / "recipes").symlink_to(REPO / "recipes")
    models = root / "saves" / "finetune"
    for name in ("target", "truncated", "no-tokenizer", "tofu_tiny-llama_full"):
        shutil.copytree(tiny_dir, models / name)
    (root / "demo_runs").mkdir()
    (root / "demo_runs" / "finetune").symlink_to(models)
    with open(models / "truncated" / "model.safetensors", "r+b") as weights:
        weights.truncate(1000)
    for path in (models / "no-tokenizer").glob("tokenizer*"):
        path.unlink()
    (root / "data").mkdir()
    (root / "data" / "forget01.jsonl").write_text("")
    lines = [
        '{"question": "Who?", "answer": "Her."}',
        '{"question": "When?", "answer": "Then."}',
        '{"question": "Why?"}',
    ]
    (root / "mine.jsonl").write_text("\n".join(lines) + "\n")
    return root


def disk_full(monkeypatch) -> None:
    """Writing the results fails as on a full disk (a write error names no file)."""

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("hf_unlearn.evaluation.store.write_json", full)


@pytest.mark.parametrize(("command", "expected"), EXAMPLES, ids=[c.split("#")[0].strip() for c, _ in EXAMPLES])
def test_readme_example_prints_what_the_readme_shows(user_folder, monkeypatch, capsys, command, expected):
    monkeypatch.chdir(user_folder)
    args = shlex.split(command, comments=True)[1:]
    comment = command.partition("#")[2].strip()
    if comment in SITUATIONS:
        setup, extra = SITUATIONS[comment]
        globals()[setup](monkeypatch)
        args += extra
    main(args)
    captured = capsys.readouterr()
    printed = (captured.out + captured.err).strip().splitlines()
    assert "Traceback" not in captured.err
    assert len(printed) >= len(expected), printed
    for want, got in zip(expected, printed[-len(expected) :], strict=True):
        if want.endswith(" ..."):
            assert got.startswith(want[: -len("...")]), f"README: {want}\nprogram: {got}"
        else:
            assert got == want, f"README: {want}\nprogram: {got}"
