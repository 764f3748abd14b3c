"""Every way a user can go wrong ends in one line `error: ...` and exit status 2, never a traceback.

Recipe mistakes must stop before any model loads (the test makes loading one fail loudly); broken model folders
before any weights are read; file-system problems name the path.
"""

import errno
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import REPO
from helpers.distributed import subprocess_env

from hf_unlearn.cli import main

#: A train recipe small enough to run in seconds on the tiny model.
QUICK = {
    "model": "tiny",
    "method": "GradDiff",
    "forget_split": "forget01",
    "data": {"source": "bundled", "forget_limit": 2, "retain_limit": 2},
    "max_steps": 1,
    "effective_batch_size": 2,
    "per_device_train_batch_size": 2,
    "bf16": False,
    "eval": {"enabled": False},
}


def run_cli(capsys, args: list[str], after_work: bool = False) -> str:
    """The CLI's one error line, after checking the exit status and that nothing else went to stderr.

    `after_work`: the error comes after training or evaluation started, whose progress bars precede it on stderr.
    """
    code = main([str(a) for a in args])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    if not after_work:
        assert len(lines) == 1, err
    assert lines[-1].startswith("error: ")
    assert sum(line.startswith("error") for line in lines) == 1, err
    return lines[-1]


def write_recipe(path: Path, **changes) -> Path:
    recipe = {**QUICK, "output_dir": str(path.parent / "run"), **changes}
    path.write_text(yaml.safe_dump(recipe))
    return path


@pytest.fixture
def no_model_loads(monkeypatch):
    """Loading weights fails the test: these errors must come before."""
    import transformers

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the input error was found")

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", refuse)
    return refuse


@pytest.fixture
def recipe_only(monkeypatch, no_model_loads):
    """Running a recipe at all fails the test: recipe errors come before."""
    monkeypatch.setattr("hf_unlearn.run.run_recipe", no_model_loads)


@pytest.fixture
def broken(tiny_dir, tmp_path):
    """Copies of the tiny model folder with one thing wrong each."""

    def make(name: str) -> Path:
        folder = tmp_path / name
        shutil.copytree(tiny_dir, folder)
        return folder

    return make


# ---- recipes: every kind of wrong value, found before anything loads -------------------------------------------
RECIPE_CASES = [
    (["--learnin_rate", "1e-5"], "learnin_rate: unknown recipe key (did you mean 'learning_rate'?)"),
    (["--learning_rate", "fast"], "learning_rate: expected a number"),
    (["--learning_rate", "-1"], "learning_rate: must be > 0"),
    (["--effective_batch_size", "0"], "effective_batch_size: must be >= 1"),
    (["--max_steps", "1.5"], "max_steps: expected an integer"),
    (["--bf16", "maybe"], "bf16: expected true or false"),
    (["--lr_scheduler_type", "sawtooth"], "lr_scheduler_type: 'sawtooth' is not allowed; allowed: linear"),
    (["--forget_split", "forget20"], "forget_split: 'forget20' is not allowed; allowed: forget01"),
    (["--retain_split", "retain90"], "retain_split: 'retain90' overlaps forget01; allowed: retain99"),
    (["--method", "Forgetful"], "method: unknown method 'Forgetful'; allowed:"),
    (["--beta", "0.1"], "beta: not a parameter of GradDiff"),
    (["--method", "NPO", "--beta", "0"], "beta: must be > 0"),
    (["--method", "WGA", "--beta", "-1"], "beta: must be >= 0"),
    (["--method", "NPO", "--retain_loss_type", "L2"], "retain_loss_type: 'L2' is not allowed; allowed: NLL, KL"),
    (["--method", "PDU"], "retain_loss_eps: a value is required"),
    (["--eval.metrics", "accuracy"], "eval.metrics"),
    (["--eval.retain_logs", "a.json", "--eval.retain_model", "m"], "eval.retain_logs: give either"),
    (["--data.forget_limit", "0"], "data.forget_limit: must be >= 1"),
    (["--data.source", "/no/such/folder"], "data.source: '/no/such/folder' is not allowed"),
    (["--per_device_train_batch_size", "3"], "per_device_train_batch_size: must divide effective_batch_size"),
    (["--precompute_ref_log_probs", "true"], "precompute_ref_log_probs: GradDiff"),
    (["--push_to_hub", "true"], "push_to_hub: needs hub_org"),
    (["--hub_repo_id", "no-slash"], "hub_repo_id: 'no-slash' is not of the form ORG/NAME"),
    (["--task", "finetune", "--finetune_splits", "forget20"], "finetune_splits: 'forget20' is not allowed"),
    (["--task", "finetune", "--alpha", "2"], "alpha: not a finetune parameter"),
    (["stray"], "unexpected argument 'stray'"),
]


@pytest.mark.parametrize(("overrides", "expected"), RECIPE_CASES, ids=[c[1].split(":")[0] for c in RECIPE_CASES])
def test_bad_recipe_values_fail_before_any_model_loads(
    tmp_path, tiny_dir, capsys, no_model_loads, overrides, expected
):
    recipe = write_recipe(tmp_path / "r.yaml", model=str(tiny_dir))
    line = run_cli(capsys, ["train", recipe, *overrides])
    assert expected in line


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ({"model": None}, "model: a value is required (got null)"),
        ({"model": ["a", "b"]}, "model: expected a string"),
        ({"data": {"source": "bundled", "retain_limit": "many"}}, "data.retain_limit: expected an integer"),
    ],
)
def test_bad_values_in_the_recipe_file(tmp_path, capsys, recipe_only, content, expected):
    recipe = write_recipe(tmp_path / "r.yaml", **content)
    assert expected in run_cli(capsys, ["train", recipe])


def test_unreadable_recipe_files(tmp_path, capsys, recipe_only):
    assert "recipe: no such file" in run_cli(capsys, ["train", tmp_path / "missing.yaml"])
    (tmp_path / "bad.yaml").write_text("model: [unclosed\n")
    assert "is not valid YAML" in run_cli(capsys, ["train", tmp_path / "bad.yaml"])
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    assert "must hold a mapping" in run_cli(capsys, ["name", tmp_path / "list.yaml"])


# ---- under accelerate launch ------------------------------------------------------------------------------------
def launch(*args) -> tuple[int, str]:
    command = [sys.executable, "-m", "accelerate.commands.launch", *map(str, args)]
    result = subprocess.run(command, env=subprocess_env(), capture_output=True, text=True, timeout=300)
    return result.returncode, result.stdout + result.stderr


@pytest.mark.parametrize(
    "launcher",
    [["--config_file", REPO / "recipes" / "accelerate" / "ddp.yaml", "--main_process_port", "0"], ["--quiet"]],
    ids=["two-processes", "quiet"],
)
def test_under_accelerate_launch_the_error_line_is_printed_once(tmp_path, launcher):
    """Two processes find the same bad key: the main one prints it. `--quiet` (accelerate's, for single-process
    and DeepSpeed launches) leaves our line without the launcher's CalledProcessError traceback."""
    recipe = write_recipe(tmp_path / "r.yaml")
    code, output = launch(*launcher, REPO / "recipes" / "run.py", recipe, "--learnin_rate", "1")
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert code != 0 and len(errors) == 1, output
    assert errors[0].startswith("error: learnin_rate: unknown recipe key (did you mean 'learning_rate'?)")
    if launcher == ["--quiet"]:
        assert "Traceback" not in output and code == 1, output


def test_another_process_prints_its_error_only_if_it_is_still_running(tmp_path, capsys, monkeypatch):
    """Process 1 waits for the launcher to stop it (the main process found the same error); still running
    afterwards, the error was its own: it prints it, naming itself."""
    from hf_unlearn import cli

    waits = []
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setattr(cli.time, "sleep", waits.append)
    assert main(["name", str(tmp_path / "missing.yaml")]) == 2
    assert waits == [cli.OTHER_PROCESS_GRACE_S]
    assert capsys.readouterr().err.startswith("error: (process 1) recipe: no such file")


# ---- model folders ---------------------------------------------------------------------------------------------
def truncate(path: Path, size: int) -> None:
    with open(path, "r+b") as handle:
        handle.truncate(size)


@pytest.mark.parametrize("command", ["train", "eval"])
def test_truncated_weights_are_named(broken, tmp_path, capsys, no_model_loads, command):
    model = broken("truncated")
    weights = model / "model.safetensors"
    truncate(weights, 1000)
    if command == "train":
        args = ["train", write_recipe(tmp_path / "r.yaml", model=str(model))]
    else:
        args = ["eval", model, "--output-dir", tmp_path / "ev", "--limit", "1", "--data-source", "bundled"]
    line = run_cli(capsys, args)
    assert f"{weights} is truncated or corrupt" in line
    assert "download or save the model again" in line


def test_weights_cut_in_the_tensor_data_are_named(broken, tmp_path, capsys, no_model_loads):
    model = broken("cut")
    weights = model / "model.safetensors"
    truncate(weights, weights.stat().st_size // 2)
    line = run_cli(capsys, ["eval", model, "--output-dir", tmp_path / "ev", "--data-source", "bundled"])
    assert f"{weights} is truncated or corrupt (its tensors run past the end of the file)" in line


def test_missing_config_json(broken, tmp_path, capsys, no_model_loads):
    model = broken("noconfig")
    (model / "config.json").unlink()
    line = run_cli(capsys, ["train", write_recipe(tmp_path / "r.yaml", model=str(model))])
    assert f"model: {model} has no config.json" in line


@pytest.mark.parametrize("command", ["train", "eval"])
def test_missing_tokenizer(broken, tmp_path, capsys, no_model_loads, command):
    model = broken("notokenizer")
    for path in model.glob("tokenizer*"):
        path.unlink()
    if command == "train":
        args = ["train", write_recipe(tmp_path / "r.yaml", model=str(model))]
    else:
        args = ["eval", model, "--output-dir", tmp_path / "ev", "--data-source", "bundled"]
    assert f"model: {model} has no tokenizer files" in run_cli(capsys, args)


def test_tokenizer_key_is_named(broken, tiny_dir, tmp_path, capsys, no_model_loads):
    empty = tmp_path / "empty"
    empty.mkdir()
    recipe = write_recipe(tmp_path / "r.yaml", model=str(tiny_dir), tokenizer=str(empty))
    assert f"tokenizer: {empty} has no tokenizer files" in run_cli(capsys, ["train", recipe])


def test_missing_model_path(tmp_path, capsys, no_model_loads):
    missing = tmp_path / "nowhere"
    line = run_cli(capsys, ["eval", missing, "--output-dir", tmp_path / "ev"])
    assert f"model: '{missing}' is not a local folder" in line
    recipe = write_recipe(tmp_path / "r.yaml", model=str(missing))
    assert f"model: '{missing}' is not a local folder" in run_cli(capsys, ["train", recipe])


def test_publish_refuses_truncated_weights(broken, capsys, no_model_loads):
    run = broken("run")
    (run / "run_info.json").write_text(json.dumps({"finished": True}))
    (run / "recipe.yaml").write_text(yaml.safe_dump({"model": "tiny", "method": "GradDiff"}))
    weights = run / "model.safetensors"
    truncate(weights, 1000)
    line = run_cli(capsys, ["publish", run, "--dry-run"])
    assert f"run folder: {weights} is truncated or corrupt" in line


# ---- data ------------------------------------------------------------------------------------------------------
def test_empty_forget_split(tiny_dir, tmp_path, capsys, no_model_loads):
    data = tmp_path / "data"
    data.mkdir()
    (data / "forget01.jsonl").write_text("")
    (data / "retain99.jsonl").write_text(json.dumps({"question": "q", "answer": "a"}) + "\n")
    recipe = write_recipe(tmp_path / "r.yaml", model=str(tiny_dir), data={"source": str(data)})
    line = run_cli(capsys, ["train", recipe])
    assert f"{data / 'forget01.jsonl'} holds no rows" in line


def test_broken_data_folder(tiny_dir, tmp_path, capsys, no_model_loads):
    data = tmp_path / "data"
    data.mkdir()
    (data / "forget01.jsonl").write_text("{not json\n")
    line = run_cli(
        capsys, ["train", write_recipe(tmp_path / "r.yaml", model=str(tiny_dir), data={"source": str(data)})]
    )
    assert f"{data / 'forget01.jsonl'}:1: not valid JSON" in line
    line = run_cli(capsys, ["eval", tiny_dir, "--output-dir", tmp_path / "ev", "--data-source", data])
    assert "is not in" in line


def test_wmdp_offline_without_the_question_sets_names_the_dataset(tiny_dir, tmp_path, capsys, no_model_loads):
    """WMDP's questions are a Hub dataset (cais/wmdp) lm-eval loads: offline and not cached, one line naming it
    and what to do, before any model loads (the tasks load first)."""
    line = run_cli(capsys, ["eval", tiny_dir, "--benchmark", "wmdp", "--output-dir", tmp_path / "ev"])
    assert "lm-eval task wmdp_bio needs the dataset cais/wmdp" in line
    assert "offline mode is on" in line and "unset HF_HUB_OFFLINE" in line


def test_holdout_file_with_missing_keys(tiny_dir, tmp_path, capsys, no_model_loads):
    holdout = tmp_path / "holdout.jsonl"
    holdout.write_text(json.dumps({"question": "Who?"}) + "\n")
    args = ["eval", tiny_dir, "--output-dir", tmp_path / "ev", "--data-source", "bundled"]
    line = run_cli(capsys, [*args, "--holdout-file", holdout])
    assert f"holdout file {holdout}:1: each line needs string 'question' and 'answer'" in line
    assert "no such file" in run_cli(capsys, [*args, "--holdout-file", tmp_path / "none.jsonl"])


def test_muse_offline_names_the_option_or_the_recipe_key(tiny_dir, tmp_path, capsys, no_model_loads):
    """Without the Hub or a local copy, `eval --benchmark muse` points at `--data-source`, a recipe at
    `data.source`."""
    args = ["eval", tiny_dir, "--benchmark", "muse", "--output-dir", tmp_path / "ev"]
    line = run_cli(capsys, args)
    assert line.startswith("error: --data-source: MUSE dataset muse-bench/MUSE-News (")
    assert line.endswith("or set --data-source to a local copy") and "data.source" not in line
    recipe = tmp_path / "News-forget_GradDiff_lr1e-05_alpha1_epoch10.yaml"
    recipe.write_text(yaml.safe_dump({"benchmark": "muse", "model": str(tiny_dir), "forget_split": "forget"}))
    line = run_cli(capsys, ["train", recipe])
    assert line.startswith("error: data.source: MUSE dataset muse-bench/MUSE-News (raw/forget)")
    assert line.endswith("or set data.source to a local copy")


def test_bad_eval_options(tiny_dir, tmp_path, capsys, no_model_loads):
    args = ["eval", tiny_dir, "--output-dir", tmp_path / "ev"]
    assert "accuracy" in run_cli(capsys, [*args, "--metrics", "accuracy"])
    assert "retain logs: no such file" in run_cli(capsys, [*args, "--retain-logs", tmp_path / "none.json"])


# ---- the file system: read-only folders and full disks name the path -------------------------------------------
def test_output_folder_under_a_regular_file(tiny_dir, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    recipe = write_recipe(tmp_path / "r.yaml", model=str(tiny_dir), output_dir=str(blocker / "run"))
    line = run_cli(capsys, ["train", recipe], after_work=True)
    assert str(blocker) in line
    assert "choose another folder" in line


def test_permission_denied_while_writing_results_names_the_path(tiny_dir, tmp_path, capsys, monkeypatch):
    def denied(path, data):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr("hf_unlearn.evaluation.store.write_json", denied)
    out = tmp_path / "ev"
    args = ["eval", tiny_dir, "--output-dir", out, "--limit", "1", "--max-new-tokens", "2", "--no-progress"]
    line = run_cli(
        capsys,
        [*args, "--forget-split", "forget01", "--data-source", "bundled", "--metrics", "forget_Q_A_Prob"],
        after_work=True,
    )
    assert line.startswith(f"error: {out}")
    assert "permission denied: choose a folder you can write to" in line


def test_full_disk_while_saving_a_model_names_the_output_folder(tiny_dir, tmp_path, capsys, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("hf_unlearn.checkpoint.convert_to_bf16", full)
    recipe = write_recipe(tmp_path / "r.yaml", model=str(tiny_dir))
    line = run_cli(capsys, ["train", recipe], after_work=True)
    assert line == f"error: {tmp_path / 'run'}: the disk is full: free some space or choose a folder on another disk"


def test_other_os_errors_are_not_disguised(tmp_path, monkeypatch):
    """Only file-system problems a user can fix become one line; anything else stays a visible bug."""

    def broken_pipe(*args, **kwargs):
        raise OSError(errno.EPIPE, "Broken pipe")

    monkeypatch.setattr("hf_unlearn.commands.name.load_recipe", broken_pipe)
    with pytest.raises(OSError, match="Broken pipe"):
        main(["name", str(tmp_path / "r.yaml")])
