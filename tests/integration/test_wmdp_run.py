"""WMDP end to end on the tiny model: a model taught to answer two topics' questions, RMU on the forget topic's
corpus, scored by lm-evaluation-harness on local tasks in WMDP's format, then the card, the leaderboard and
`hf-unlearn eval --benchmark wmdp`."""

from __future__ import annotations

import json
from pathlib import Path

import lm_eval  # the wmdp extra, installed by `make install-test`
import pytest
import torch
from helpers import wmdp_synthetic as syn

TASKS = ["synth_forget", "synth_retain"]
PAPER_RECIPE = Path(__file__).resolve().parents[2] / "recipes/wmdp/bio-cyber_RMU_lr5e-05_s6.5_alpha1200_epoch1.yaml"


@pytest.fixture(scope="module")
def wmdp_run(tmp_path_factory, tiny_dir, tokenizer):
    """An RMU run whose training result and lm-eval calls are recorded."""
    import hf_unlearn.run
    from hf_unlearn.recipe import Recipe

    root = tmp_path_factory.mktemp("wmdp")
    questions = syn.make_questions(tokenizer)
    tasks = syn.write_tasks(root / "tasks", questions)
    corpora = syn.write_corpora(root / "corpora", questions)
    taught = syn.teach(tiny_dir, root / "taught", questions)
    recipe = Recipe.from_dict(
        {
            "benchmark": "wmdp",
            "model": str(taught),
            "method": "RMU",
            "forget_split": "cyber",
            # steer the token embeddings themselves: the forget corpus holds only the forget topic's own tokens
            # (and BOS, whose position the loss leaves out), so only their embeddings move and the retain prompts
            # compute as before
            "module_regex": r"model\.embed_tokens",
            "trainable_params_regex": r"model\.embed_tokens\.weight",
            "steering_coeff": 20,
            "alpha": 1,
            "learning_rate": 1e-2,
            "num_train_epochs": 1,
            "max_steps": 100,
            "effective_batch_size": 4,
            "per_device_train_batch_size": 4,
            "warmup_epochs": 0,
            "weight_decay": 0.0,
            "lr_scheduler_type": "constant",
            "bf16": False,
            "logging_steps": 10,
            "data": {"source": str(corpora), "max_length": 64},
            "eval": {"tasks": TASKS, "include_path": str(tasks), "batch_size": 8},
            "output_dir": str(root / "run"),
        }
    )
    trained, calls = [], []
    real_train, real_evaluate = hf_unlearn.run.train, lm_eval.simple_evaluate
    mp = pytest.MonkeyPatch()

    def record_train(*args, **kwargs):
        trained.append(real_train(*args, **kwargs))
        return trained[-1]

    def record_evaluate(*args, **kwargs):
        calls.append(kwargs)
        return real_evaluate(*args, **kwargs)

    mp.setattr(hf_unlearn.run, "train", record_train)
    mp.setattr(lm_eval, "simple_evaluate", record_evaluate)
    try:
        run_dir = hf_unlearn.run.run_recipe(recipe)
    finally:
        mp.undo()
    return {"run_dir": run_dir, "trained": trained[0], "calls": calls, "tasks": tasks, "root": root}


def _summary(folder):
    return json.loads((folder / "WMDP_SUMMARY.json").read_text())


def test_harness_receives_the_trained_model_and_the_task_settings(wmdp_run):
    calls, trained = wmdp_run["calls"], wmdp_run["trained"]
    assert len(calls) == 2  # the unlearned model, then the target model
    first = calls[0]
    assert first["model"].model is trained.loaded[0]  # the object training produced, not a reload
    assert first["model"].tokenizer is trained.loaded[1]
    assert first["tasks"] == TASKS
    assert first["system_instruction"] is None and first["apply_chat_template"] is False
    assert first["limit"] is None
    assert str(wmdp_run["tasks"]) in str(first["task_manager"].include_path)
    assert calls[1]["model"].model is not trained.loaded[0]
    full = json.loads((wmdp_run["run_dir"] / "evals" / "WMDP_EVAL.json").read_text())
    for task in TASKS:
        assert full["n-shot"][task] == 0
        assert full["configs"][task]["output_type"] == "multiple_choice"
        assert len(full["samples"][task]) == 8


def test_rmu_run_files_and_numbers(wmdp_run):
    run_dir = wmdp_run["run_dir"]
    evals = run_dir / "evals"
    for name in ("WMDP_EVAL.json", "WMDP_SUMMARY.json", "eval_meta.json", "comparison.json"):
        assert (evals / name).is_file(), name
    after, before = _summary(evals), _summary(evals / "target")
    for task in TASKS:
        assert 0.0 <= after[f"{task}/acc"] <= 1.0
    # the taught model knows both topics far above chance (25%)
    assert before["synth_forget/acc"] > 0.5 and before["synth_retain/acc"] > 0.5
    # RMU: the forget topic falls by at least 2 of its 8 questions (seen here: 5), the retain topic stays (its
    # prompts touch no weight that moved; the margin is for the target being read back from its folder)
    assert after["synth_forget/acc"] <= before["synth_forget/acc"] - 0.25, (before, after)
    assert after["synth_retain/acc"] >= before["synth_retain/acc"] - 0.25, (before, after)
    logged = [e["forget_loss"] for e in wmdp_run["trained"].log_history if "forget_loss" in e]
    assert logged[-1] < 0.5 * logged[0]
    meta = json.loads((evals / "eval_meta.json").read_text())
    assert meta["settings"]["weights"] == "in memory after training" and meta["settings"]["tasks"] == TASKS


def test_card_and_leaderboard(wmdp_run):
    from hf_unlearn.leaderboard import collect, to_markdown

    card = (wmdp_run["run_dir"] / "export" / "README.md").read_text()
    assert "random chance" in card and "25%" in card
    for task in TASKS:
        assert f"| `{task}` |" in card
    assert "module_regex = model\\.embed_tokens" in card and "steering_coeff = 20" in card
    entries = collect([wmdp_run["run_dir"]], benchmark="wmdp")
    assert [e.method for e in entries] == ["RMU"]
    table = to_markdown(entries, "name")
    assert "| wmdp_bio/acc | wmdp_cyber/acc | mmlu/acc |" in table and entries[0].run_name in table


def test_eval_command_scores_the_saved_folder(wmdp_run, capsys):
    from hf_unlearn.cli import main

    out = wmdp_run["root"] / "cli_eval"
    argv = ["eval", str(wmdp_run["run_dir"]), "--benchmark", "wmdp", "--output-dir", str(out)]
    argv += ["--tasks", ",".join(TASKS), "--include-path", str(wmdp_run["tasks"]), "--no-progress"]
    assert main(argv) == 0
    meta = json.loads((out / "eval_meta.json").read_text())
    assert meta["settings"]["weights"] == "float32"  # read from the folder, not the in-memory result
    assert set(_summary(out)) >= {f"{t}/acc" for t in TASKS}
    assert main(argv) == 0
    assert "reused" in capsys.readouterr().out


def test_paper_schedule_trains_in_order_with_a_vector_per_topic(tmp_path, tiny_dir, tokenizer, monkeypatch):
    """The paper recipe through the real Trainer: step i reads topic i mod 2's batch i // 2, in file order (no
    shuffling), each topic is steered to its own control vector, and the model and its frozen copy train in
    bfloat16 weights, as the original's."""
    from hf_unlearn.pipeline import train
    from hf_unlearn.recipe import load_recipe
    from hf_unlearn.trainers.rmu import RMUTrainer

    folder = tmp_path / "corpora"
    folder.mkdir()
    for name in ("bio-forget-corpus", "cyber-forget-corpus", "wikitext"):
        lines = [json.dumps({"text": f"{name} document {i} says something"}) for i in range(16)]
        (folder / f"{name}.jsonl").write_text("\n".join(lines) + "\n")
    steps, dtypes = [], set()
    real = RMUTrainer.compute_unlearning_loss

    def record(self, model, inputs):
        forget = inputs["forget"]
        texts = tokenizer.batch_decode(forget["input_ids"], skip_special_tokens=True)
        steps.append((forget["topic"].tolist(), texts))
        dtypes.add((model.dtype, self.ref_model.dtype))
        loss = real(self, model, inputs)
        steps[-1] += (sorted(self._control),)
        return loss

    monkeypatch.setattr(RMUTrainer, "compute_unlearning_loss", record)
    overrides = {
        "model": str(tiny_dir), "data.source": str(folder), "max_steps": 4, "module_regex": r"model\.layers\.1",
        "trainable_params_regex": r"model\.layers\.(0|1)\.mlp\.down_proj\.weight", "bf16": False,
        "output_dir": str(tmp_path / "run"), "eval.enabled": False, "logging_steps": 1,
    }  # fmt: skip
    recipe = load_recipe(PAPER_RECIPE, overrides)
    train(recipe)
    assert [topics for topics, _, _ in steps] == [[0] * 4, [1] * 4, [0] * 4, [1] * 4]
    names = ["bio-forget-corpus", "cyber-forget-corpus"]
    for i, (_, texts, vectors) in enumerate(steps):
        expected = [f"{names[i % 2]} document {4 * (i // 2) + j} says something" for j in range(4)]
        assert [t.strip() for t in texts] == expected, i
        assert vectors == ([0] if i == 0 else [0, 1])  # a second control vector once cyber is read
    assert dtypes == {(torch.bfloat16, torch.bfloat16)}
