"""What a user sees first: `hf-unlearn --help` says what the tool is for, each command's help shows an example."""

import pytest

from hf_unlearn.cli import command_names, main


def help_text(capsys, args: list[str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--help"])
    assert exit_info.value.code == 0
    return capsys.readouterr().out


def test_top_level_help_explains_the_tool_and_a_workflow(capsys):
    text = help_text(capsys, [])
    assert "unlearning" in text.lower()
    workflow = [line.strip().split()[1] for line in text.splitlines() if line.strip().startswith("hf-unlearn ")]
    assert workflow == ["train", "eval", "publish"]


@pytest.mark.parametrize("command", command_names())
def test_each_command_help_has_an_example(capsys, command):
    text = help_text(capsys, [command])
    after = text.split("example", 1)
    assert len(after) == 2, f"no example in `hf-unlearn {command} --help`"
    assert f"hf-unlearn {command} " in after[1]


def test_train_help_explains_overrides_and_resume(capsys):
    text = help_text(capsys, ["train"])
    assert "--key value" in text
    assert "dotted" in text
    assert "--learning_rate 1e-5 --data.source bundled" in text
    assert "--resume continues from the newest complete checkpoint" in text
