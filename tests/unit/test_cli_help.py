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
    listed = {line.split()[0] for line in text.split("commands:", 1)[1].splitlines()[2:] if line.startswith("    ")}
    assert listed >= set(command_names())


def test_top_level_help_lists_the_registered_benchmarks_and_methods(capsys, monkeypatch):
    """The lists come from the registries: a benchmark or method registered later shows up without editing the
    help, and nothing in it is one benchmark's (the help once described a TOFU-only tool)."""
    from hf_unlearn.benchmarks import BENCHMARKS, TOFU
    from hf_unlearn.methods import METHODS

    text = help_text(capsys, [])
    for benchmark in BENCHMARKS.values():
        assert f"  {benchmark.name}  {benchmark.title}: {benchmark.summary}" in text
    assert listed_methods(text) == sorted(METHODS, key=str.lower)
    assert "fictitious authors) while" not in text and "on TOFU (" not in text and "TOFU summaries" not in text

    class Bar(TOFU):
        name, title, summary = "bar", "BAR", "a benchmark registered after the help was written"

    monkeypatch.setitem(BENCHMARKS, "bar", Bar())
    monkeypatch.setitem(METHODS, "Zeta", METHODS["GradDiff"])
    text = help_text(capsys, [])
    assert "  bar   BAR: a benchmark registered after the help was written" in text
    assert listed_methods(text) == sorted(METHODS, key=str.lower) and "Zeta" in METHODS
    assert "BAR" in text.split("commands:", 1)[1]  # `eval`'s one-line help names the benchmarks too


def listed_methods(text: str) -> list[str]:
    """The method names under the help's "N unlearning methods" heading (its count checked)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if "unlearning methods (recipe key" in line)
    body = []
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        body.append(line.strip())
    names = " ".join(body).split(", ")
    assert lines[start].startswith(f"{len(names)} unlearning methods")
    return names


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


def test_eval_help_lists_the_chosen_benchmarks_options_and_says_how_to_see_others(capsys):
    tofu = help_text(capsys, ["eval"])
    assert "--holdout-file HOLDOUT_FILE" in tofu and "--corpus {news,books}" not in tofu
    assert "hf-unlearn eval --benchmark muse|tofu|wmdp --help" in tofu
    muse = help_text(capsys, ["eval", "--benchmark", "muse"])
    assert "--corpus {news,books}" in muse and "--icl-shots" in muse and "--holdout-file HOLDOUT_FILE" not in muse
    assert "comma-separated MUSE metric names" in " ".join(muse.split())
    assert "--tasks" in help_text(capsys, ["eval", "--benchmark=wmdp"])


def test_each_benchmark_parses_its_own_eval_options():
    from hf_unlearn.benchmarks import get_benchmark
    from hf_unlearn.cli import build_parser

    base = ["eval", "model", "--output-dir", "out"]
    muse = build_parser().parse_args([*base, "--benchmark", "muse", "--metrics", "privleak", "--data-source", "hub"])
    settings = get_benchmark("muse").eval_settings_from_args(muse)
    assert settings.metrics == ("privleak",) and settings.corpus == "news"
    tofu = build_parser().parse_args([*base, "--forget-split", "forget05"])
    assert tofu.forget_split == "forget05" and not hasattr(tofu, "corpus")
    with pytest.raises(SystemExit):  # a MUSE option is no TOFU option
        build_parser().parse_args([*base, "--corpus", "books"])


def command_parsers():
    """(label, parser) for every sub-command; `eval` and `attack` once per benchmark, whose options they add."""
    import argparse

    from hf_unlearn.benchmarks import BENCHMARKS
    from hf_unlearn.cli import build_parser

    for command in command_names():
        variants = [[]] + ([["--benchmark", b] for b in BENCHMARKS] if command in ("eval", "attack") else [])
        for argv in variants:
            parser = build_parser()
            sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
            for hook in sub.option_hooks:
                hook(sub, argv)
            yield " ".join([command, *argv]), sub


def test_every_option_has_help_that_states_its_default():
    """A user reads the default in `--help` (e.g. eval's --forget-split is forget10, demo's --output-dir is
    demo_runs); switches (store_true/false) are off or on by their name."""
    import argparse

    switches = (argparse._StoreTrueAction, argparse._StoreFalseAction, argparse._StoreConstAction)
    problems = []
    for label, parser in command_parsers():
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            name = action.option_strings[0] if action.option_strings else action.dest
            text = action.help if action.help is not None else ""
            if not text.strip() or text == argparse.SUPPRESS:
                problems.append(f"{label} {name}: no help")
                continue
            shown = parser._get_formatter()._expand_help(action)
            if isinstance(action, switches) or action.default in (None, [], argparse.SUPPRESS):
                continue
            if "default" not in shown or str(action.default) not in shown:
                problems.append(f"{label} {name}: help does not state the default {action.default!r}: {shown!r}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["eval", "tiny", "--output-dir", "x", "--corpus", "books"], "--corpus is an option of --benchmark muse"),
        (["eval", "tiny", "--output-dir", "x", "--tasks=wmdp_bio"], "--tasks is an option of --benchmark wmdp"),
        (["eval", "m", "--output-dir", "x", "--benchmark", "muse", "--holdout-file", "h"], "--benchmark tofu"),
        (["attack", "tiny", "--attacks", "quantize", "--icl-shots", "0"], "--icl-shots is an option of --benchmark"),
    ],
)
def test_another_benchmarks_option_is_refused_with_a_hint(capsys, args, hint):
    """Not the top-level usage: the command's own, and which benchmark the option belongs to."""
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert f"hf-unlearn {args[0]}: error: unrecognized arguments" in err and hint in err
    assert "usage: hf-unlearn [-h] COMMAND" not in err


def test_errors_name_the_options_a_command_line_set():
    """A command-line user reads `--data-source`, a recipe user `data.source`: the same error, in each one's
    words. Dotted and underscored keys are renamed anywhere, one-word keys only as the leading `key:`; paths and
    other words are left alone."""
    from hf_unlearn.commands import command_line_message

    options = {"data_source": "--data-source", "corpus": "--corpus", "limit": "--limit", "tokenizer": "--tokenizer"}
    offline = "data.source: MUSE dataset X is not cached: connect, or set data.source to a local copy"
    assert command_line_message(offline, options) == (
        "--data-source: MUSE dataset X is not cached: connect, or set --data-source to a local copy"
    )
    assert command_line_message(offline, {}) == offline
    assert command_line_message("data_source: 'b' is neither 'hub' nor a folder", options).startswith("--data-source:")
    assert (
        command_line_message("data.corpus: 'c' is not a MUSE corpus", options) == "--corpus: 'c' is not a MUSE corpus"
    )
    assert command_line_message("limit: must be >= 1, got 0", options) == "--limit: must be >= 1, got 0"
    kept = "model: /a/data_source/data.source.jsonl has no limit, tokenizer: none"
    assert command_line_message(kept, options) == kept
