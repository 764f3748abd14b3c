"""`hf-unlearn attack` and `eval.robustness`: bad input fails in one line, exit 2, before any model loads."""

from pathlib import Path

import pytest

from hf_unlearn import cli
from hf_unlearn.recipe import Recipe, RecipeError
from hf_unlearn.robustness.attacks import ATTACKS
from hf_unlearn.robustness.stage import check_recipe

MISSING = "/nonexistent/unlearned-model"


def run(capsys, *args) -> tuple[int, str]:
    code = cli.main(["attack", *args])
    return code, capsys.readouterr().err


def test_unknown_attack_names_the_allowed_ones(capsys):
    code, err = run(capsys, MISSING, "--attacks", "relearn,bogus", "--output-dir", "/tmp/x")
    assert code == 2
    assert err.strip() == f"error: --attacks: unknown attack 'bogus'; allowed: {', '.join(ATTACKS)}"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--attacks", "relearn", "--output-dir", "/tmp/x"], "--retain-model: the relearn attack needs"),
        (["--attacks", "quantize"], "--output-dir: needed for a model without a run folder"),
        (["--attacks", "quantize", "--output-dir", "/tmp/x", "--attack-option", "quantize.bits=3"], "bits must be"),
        (["--attacks", "quantize", "--output-dir", "/tmp/x", "--attack-option", "quantize"], "ATTACK.KEY=VALUE"),
        (
            ["--attacks", "quantize", "--output-dir", "/tmp/x", "--attack-option", "relearn.steps=2"],
            "--attack-option: 'relearn' is not among the chosen attacks",
        ),
        (
            [
                "--attacks",
                "relearn",
                "--retain-model",
                "r",
                "--output-dir",
                "/tmp/x",
                "--attack-option",
                "relearn.lr=1",
            ],
            "relearn: unknown option 'lr'",
        ),
    ],
)
def test_bad_requests_fail_before_loading(capsys, args, message):
    code, err = run(capsys, MISSING, *args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_recipe_robustness_keys_are_checked_before_training():
    base = {"model": "tiny", "forget_split": "forget01"}
    check_recipe(Recipe.from_dict({**base, "eval": {"robustness": ["quantize"]}}))
    with pytest.raises(RecipeError, match="eval.robustness: unknown attack 'nope'"):
        check_recipe(Recipe.from_dict({**base, "eval": {"robustness": "quantize,nope"}}))
    with pytest.raises(RecipeError, match="eval.retain_model: the relearn attack needs"):
        check_recipe(Recipe.from_dict({**base, "eval": {"robustness": ["relearn"]}}))
    options = {"robustness": ["quantize"], "robustness_options": {"quantize": {"quant_type": "int3"}}}
    with pytest.raises(RecipeError, match="quant_type must be one of"):
        check_recipe(Recipe.from_dict({**base, "eval": options}))
    with pytest.raises(RecipeError, match="eval.robustness_options: expected a mapping"):
        Recipe.from_dict({**base, "eval": {"robustness_options": ["relearn"]}})


def test_recipe_robustness_round_trips_through_the_saved_yaml():
    values = {"robustness": ["relearn"], "retain_model": "r", "robustness_options": {"relearn": {"steps": 3}}}
    recipe = Recipe.from_dict({"model": "tiny", "eval": values})
    again = Recipe.from_dict(recipe.to_yaml_dict())
    assert again["eval.robustness"] == ["relearn"] and again["eval.robustness_options"] == {"relearn": {"steps": 3}}


# ---- a run folder's recipe, and the command line over it ----------------------------------------------------------
RUNS = {
    "tofu": {"forget_split": "forget10", "data": {"source": "bundled"}, "eval": {"retain_model": "R", "limit": 5}},
    "muse": {"forget_split": "forget", "data": {"corpus": "news"}, "eval": {"retain_model": "R", "limit": 5}},
}
#: Per option: its value (None for a switch), or the arguments of a case that needs another option first. Each
#: changes the settings the run's recipe gives; the test fails when an option is missing here.
OPTION_VALUES = {
    "tofu": {
        "--forget-split": "forget05",
        "--holdout-split": "holdout01",
        "--holdout-file": "mine.jsonl",
        "--eos-as-pad": None,
        "--metrics": "forget_Q_A_Prob",
        "--generation-batch-size": "3",
        "--max-new-tokens": "9",
        "--data-source": "hub",
        "--gibberish-model": "my/classifier",
        "--es-one-over-n": None,
        "--no-es-one-over-n": ["--eos-as-pad", "--no-es-one-over-n"],  # against --eos-as-pad alone, whose ES floors
    },
    "muse": {
        "--corpus": "books",
        "--metrics": "privleak",
        "--data-source": "{tmp}",
        "--generation-batch-size": "3",
        "--icl-shots": "2",
        "--gibberish-model": "my/classifier",
        "--es-one-over-n": None,
    },
}
COMMON_VALUES = {
    "--tokenizer": "my/tokenizer",
    "--dtype": "float16",
    "--device": "meta",
    "--batch-size": "3",
    "--limit": "2",
}


@pytest.fixture
def run_folder(tmp_path):
    import yaml

    def make(benchmark: str) -> Path:
        folder = tmp_path / f"{benchmark}_run"
        folder.mkdir()
        recipe = Recipe.from_dict({"benchmark": benchmark, "model": "tiny", **RUNS[benchmark]})
        (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe.to_yaml_dict()))
        return folder

    return make


@pytest.fixture
def suite_calls(monkeypatch):
    """What `attack` hands the suite (benchmark, settings, retain model), instead of running it."""
    calls = []

    def record(benchmark, model, attacks, output_dir, settings, retain, options, seed, progress):
        calls.append((benchmark.name, settings, retain))
        return {}

    monkeypatch.setattr("hf_unlearn.commands.attack.run_suite", record)
    monkeypatch.setattr("hf_unlearn.commands.attack.format_table", lambda result: "")
    return calls


def attack_settings(suite_calls, *args):
    assert cli.main(["attack", *map(str, args), "--attacks", "logit_lens"]) == 0
    return suite_calls.pop()


@pytest.mark.parametrize("name", sorted(RUNS))
def test_every_option_on_the_command_line_overrides_the_run_folders_recipe(run_folder, suite_calls, tmp_path, name):
    from dataclasses import fields

    from hf_unlearn.benchmarks import get_benchmark
    from hf_unlearn.cli import build_parser

    run = run_folder(name)
    from_recipe = get_benchmark(name).eval_settings(
        Recipe.from_dict({"benchmark": name, "model": "tiny", **RUNS[name]})
    )
    assert attack_settings(suite_calls, run) == (name, from_recipe, "R")

    values = {**OPTION_VALUES[name], **COMMON_VALUES}
    parser = build_parser()
    parser.parse_args(["attack", str(run), "--attacks", "logit_lens"])  # its hook adds the run's benchmark options
    attack = parser._subparsers._group_actions[0].choices["attack"]
    groups = [g for g in attack._action_groups if "(--benchmark" in (g.title or "") or "model" in (g.title or "")]
    offered = {option for g in groups for action in g._group_actions for option in action.option_strings}
    assert offered == set(values), "every evaluation option of the run's benchmark needs a value in this test"
    names = {f.name for f in fields(from_recipe)}
    for option, value in values.items():
        args = [option] if value is None else value if isinstance(value, list) else [option, value]
        args = [arg.format(tmp=tmp_path) for arg in args]
        _, before, _ = attack_settings(suite_calls, run, *args[: args.index(option)])
        _, settings, _ = attack_settings(suite_calls, run, *args)
        namespace = parser.parse_args(["attack", str(run), "--attacks", "logit_lens", *args])
        field = attack._option_string_actions[option].dest
        assert field in names, f"{option} sets no evaluation setting"
        expected = getattr(get_benchmark(name).eval_settings_from_args(namespace), field)
        assert getattr(settings, field) == expected != getattr(before, field), option
        unchanged = names - {field} - set(getattr(from_recipe, "derived_from", {}))
        assert {n: getattr(settings, n) for n in unchanged} == {n: getattr(before, n) for n in unchanged}, option


def test_a_forget_split_on_the_command_line_takes_its_own_holdout_split(run_folder, suite_calls):
    _, settings, _ = attack_settings(suite_calls, run_folder("tofu"), "--forget-split", "forget05")
    assert settings.forget_split == "forget05" and settings.holdout_split is None  # None: forget05's, holdout05


def test_another_benchmark_than_the_runs_takes_nothing_of_its_recipes_evaluation(run_folder, suite_calls, tmp_path):
    """A TOFU run attacked on MUSE: the recipe's `data.source: bundled` and TOFU retain model don't apply."""
    run = run_folder("tofu")
    args = [run, "--benchmark", "muse", "--corpus", "books", "--data-source", tmp_path]
    name, settings, retain = attack_settings(suite_calls, *args)
    assert (name, settings.corpus, settings.data_source, settings.limit, retain) == (
        "muse",
        "books",
        str(tmp_path),
        None,
        None,
    )


def test_a_run_folders_benchmark_chooses_the_options_it_takes(run_folder, suite_calls, capsys):
    """`attack MUSE_RUN --corpus books` needs no `--benchmark muse`; a TOFU option there is refused with a hint."""
    name, settings, _ = attack_settings(suite_calls, "--limit", "3", run_folder("muse"), "--corpus", "books")
    assert (name, settings.corpus, settings.limit) == ("muse", "books", 3)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(
            [
                "attack",
                str(run_folder("tofu").parent / "muse_run"),
                "--attacks",
                "logit_lens",
                "--forget-split",
                "forget01",
            ]
        )
    assert exit_info.value.code == 2
    assert "--forget-split is an option of --benchmark tofu, not of muse" in capsys.readouterr().err


# ---- the printed table: what the attacks found beside the metrics -----------------------------------------------
def result_with(extras: dict) -> dict:
    metrics = {"forget_Q_A_Prob": {"after": 0.5}}
    return {
        "attacks": {name: {"metrics": metrics, "extra": extra} for name, extra in extras.items()},
        "robustness": {
            "forget_Q_A_Prob": {"R": 1.0, "Q": 0.5, "HM": 2 / 3, "R_sym": 1.0, "Q_sym": 0.5, "HM_sym": 2 / 3}
        },
        "before": {"forget_Q_A_Prob": 0.25},
    }


def test_the_table_prints_the_nf4_code_change_and_the_erasure_score():
    """Both are cited by the README and were only in ROBUSTNESS.json."""
    from hf_unlearn.robustness.suite import format_table

    change = {"original_model": "target", "weights": 100, "changed_fraction": 0.97, "nf4_changed_fraction": 0.8625}
    erasure = {"score": 0.4213, "layers": [2, 3, 4], "erasure": [0.1, 0.5, 0.6], "tau": 0.05}
    text = format_table(result_with({"quantize": {"code_change": change}, "logit_lens": {"erasure": erasure}}))
    table, notes = text.split("\n\n")
    assert table.splitlines()[0].endswith("| R | Q | HM | R_sym | Q_sym | HM_sym |")
    assert notes.splitlines() == [
        "quantize: unlearning changed 97.0% of the quantized weights and 86.2% of their NF4 codes (against target); "
        "where few codes changed, the 4-bit copy is the original again and Q near 1 says little",
        "logit_lens: erasure score 0.4213 over the 3 layers where retain trails full by more than 0.05 nats "
        "(1: erased like the retain model, 0: intact)",
    ]
    without = format_table(result_with({"quantize": {}, "logit_lens": {"erasure": None}, "jailbreak": {}}))
    assert without.split("\n\n")[1].splitlines() == [
        "quantize: no NF4 code diagnostic (it needs --original-model, the model unlearning started from)",
        "logit_lens: no erasure score (it needs the retain model and logit_lens.full_model)",
    ]
    assert "\n\n" not in format_table(result_with({"jailbreak": {}}))
