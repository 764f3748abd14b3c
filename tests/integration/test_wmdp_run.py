"""WMDP end to end on the tiny model: a model taught to answer two topics' questions, RMU on the forget topic's
corpus, scored by lm-evaluation-harness on local tasks in WMDP's format, then the card, the leaderboard and
`hf-unlearn eval --benchmark wmdp`."""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import lm_eval  # the wmdp extra, installed by `make install-test`
import numpy as np
import pytest
import torch
from helpers import wmdp_synthetic as syn
from helpers.export_paths import absolute_paths
from transformers import AutoTokenizer

from hf_unlearn.benchmarks import get_benchmark
from hf_unlearn.recipe import Recipe

TASKS = ["synth_forget", "synth_retain"]
WMDP_BENCH = get_benchmark("wmdp")
PAPER_RECIPE = Path(__file__).resolve().parents[2] / "recipes/wmdp/bio-cyber_RMU_lr5e-05_s6.5_alpha1200_epoch1.yaml"


@pytest.fixture(scope="module")
def wmdp_run(tmp_path_factory, tiny_dir, tokenizer):
    """An RMU run whose training result and lm-eval calls are recorded."""
    import hf_unlearn.run

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
    return {
        "run_dir": run_dir, "trained": trained[0], "calls": calls, "tasks": tasks, "root": root,
        "questions": questions, "recipe": recipe,
    }  # fmt: skip


def _summary(folder):
    return json.loads((folder / "WMDP_SUMMARY.json").read_text())


def test_harness_receives_the_trained_model_and_the_task_settings(wmdp_run, tokenizer):
    calls, trained = wmdp_run["calls"], wmdp_run["trained"]
    assert len(calls) == 2  # the unlearned model, then the target model
    first = calls[0]
    assert first["model"].model is trained.loaded[0]  # the object training produced, not a reload
    assert first["model"].tokenizer is trained.loaded[1]
    assert [task.task_name for task in first["tasks"]] == TASKS  # loaded before the model, handed over as loaded
    assert first["system_instruction"] is None and first["apply_chat_template"] is False
    assert first["limit"] is None
    assert str(wmdp_run["tasks"]) in str(first["task_manager"].include_path)
    assert calls[1]["model"].model is not trained.loaded[0]
    for call in calls:
        lm = call["model"]
        assert lm.batch_size == 8  # eval.batch_size reaches lm-eval's model wrapper
        # the references' harness (lm-eval 0.4.2, 0.4.8) put no BOS before a Llama model's prompts; 0.4.13's default
        # (the tokenizer's) would
        assert lm.add_bos_token is False
        assert lm.tok_encode("Answer:") == tokenizer("Answer:", add_special_tokens=False)["input_ids"]
        assert tokenizer("Answer:")["input_ids"][0] == tokenizer.bos_token_id
    full = json.loads((wmdp_run["run_dir"] / "evals" / "WMDP_EVAL.json").read_text())
    for task in TASKS:
        assert full["n-shot"][task] == 0
        assert full["configs"][task]["output_type"] == "multiple_choice"
        assert len(full["samples"][task]) == 8
    assert full["settings"]["add_bos_token"] is False and full["settings"]["batch_size"] == 8


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
    target_meta = json.loads((evals / "target" / "eval_meta.json").read_text())
    assert meta["settings"]["dtype"] == target_meta["settings"]["dtype"] == "float32"  # scored alike (CPU)


def test_card_and_leaderboard(wmdp_run):
    from hf_unlearn.leaderboard import collect, to_markdown

    card = (wmdp_run["run_dir"] / "export" / "README.md").read_text()
    assert absolute_paths(wmdp_run["run_dir"] / "export") == []  # local task files named as ./<name> only
    assert "random chance" in card and "25%" in card
    for task in TASKS:
        assert f"| `{task}` |" in card
    assert "module_regex = model\\.embed_tokens" in card and "steering_coeff = 20" in card
    entries = collect([wmdp_run["run_dir"]], benchmark="wmdp")
    assert [e.method for e in entries] == ["RMU"]
    table = to_markdown(entries, "name")
    assert "| wmdp_bio/acc | wmdp_cyber/acc | mmlu/acc |" in table and entries[0].run_name in table


@torch.no_grad()
def _choice_log_likelihoods(model, tokenizer, task: str, rows: list[dict], bos: bool) -> list[list[float]]:
    """log p(" A" | prompt), ... log p(" D" | prompt) per question, computed here one question at a time: what
    lm-eval's multiple-choice accuracy is the argmax of."""
    letters = [tokenizer(" " + letter, add_special_tokens=False)["input_ids"] for letter in syn.LETTERS]
    assert all(len(ids) == 1 for ids in letters)
    out = []
    for row in rows:
        ids = tokenizer(syn.prompt(task, row), add_special_tokens=False)["input_ids"]
        ids = [tokenizer.bos_token_id] * bos + ids
        logp = model(torch.tensor([ids])).logits[0, -1].float().log_softmax(-1)
        out.append([float(logp[ids[0]]) for ids in letters])
    return out


def test_eval_command_scores_the_saved_folder(wmdp_run, capsys, monkeypatch, tokenizer):
    """The accuracy in the summary is the argmax of each question's choice log-likelihoods, computed here
    independently (no BOS, the references' setting); the settings reach lm-eval's model wrapper; the stored results
    are reused while nothing changes and recomputed when a setting changes."""
    from transformers import AutoModelForCausalLM

    from hf_unlearn.cli import main

    wrappers = []
    real = lm_eval.simple_evaluate

    def record(*args, **kwargs):
        wrappers.append(kwargs["model"])
        return real(*args, **kwargs)

    monkeypatch.setattr(lm_eval, "simple_evaluate", record)
    out = wmdp_run["root"] / "cli_eval"
    argv = ["eval", str(wmdp_run["run_dir"]), "--benchmark", "wmdp", "--output-dir", str(out)]
    argv += ["--tasks", ",".join(TASKS), "--include-path", str(wmdp_run["tasks"]), "--no-progress"]
    assert main(argv) == 0
    meta = json.loads((out / "eval_meta.json").read_text())
    assert meta["settings"]["dtype"] == "float32" and meta["settings"]["weights"] == "saved weights"
    assert meta["settings"]["harness"] == f"lm-eval {version('lm-eval')}"
    summary, full = _summary(out), json.loads((out / "WMDP_EVAL.json").read_text())
    model = AutoModelForCausalLM.from_pretrained(wmdp_run["run_dir"], dtype=torch.float32)
    for task in TASKS:
        rows = wmdp_run["questions"][task]
        mine = _choice_log_likelihoods(model, tokenizer, task, rows, bos=False)
        harness = [[r[0] for r in sample["filtered_resps"]] for sample in full["samples"][task]]
        np.testing.assert_allclose(harness, mine, atol=1e-4)
        right = [
            max(range(4), key=scores.__getitem__) == row["answer"] for scores, row in zip(mine, rows, strict=True)
        ]
        assert summary[f"{task}/acc"] == pytest.approx(sum(right) / len(rows))
    assert wrappers[-1].batch_size == 32 and wrappers[-1].add_bos_token is False  # the command's defaults
    assert main(argv) == 0
    assert "reused" in capsys.readouterr().out and len(wrappers) == 1
    # a setting that changes the numbers: recomputed, with the new settings reaching the wrapper
    assert main([*argv, "--limit", "3", "--batch-size", "3", "--add-bos-token", "true"]) == 0
    assert "reused" not in capsys.readouterr().out and len(wrappers) == 2
    assert (wrappers[-1].batch_size, wrappers[-1].add_bos_token) == (3, True)
    meta, full = json.loads((out / "eval_meta.json").read_text()), json.loads((out / "WMDP_EVAL.json").read_text())
    assert (meta["settings"]["limit"], meta["settings"]["add_bos_token"]) == (3, True)
    assert full["settings"]["add_bos_token"] is True
    task = TASKS[0]
    with_bos = _choice_log_likelihoods(model, tokenizer, task, wmdp_run["questions"][task][:3], bos=True)
    np.testing.assert_allclose(
        [[r[0] for r in s["filtered_resps"]] for s in full["samples"][task]], with_bos, atol=1e-4
    )


def test_in_memory_model_is_scored_in_the_targets_precision(wmdp_run, tmp_path, monkeypatch):
    """The unlearned model training left in memory (float32 master weights) and the target reloaded from its
    folder are scored with the same weights' dtype: here bfloat16, as on a GPU."""
    import shutil

    from helpers.trainers import float_model

    from hf_unlearn.benchmarks.wmdp import WMDPSettings
    from hf_unlearn.evaluation.stage import evaluate_run

    run = Path(shutil.copytree(wmdp_run["run_dir"], tmp_path / "run", ignore=shutil.ignore_patterns("evals")))
    monkeypatch.setattr(WMDPSettings, "resolved_dtype", lambda self: "bfloat16")
    scored = []
    real = lm_eval.simple_evaluate

    def record(*args, **kwargs):
        scored.append(kwargs["model"].model.dtype)
        return real(*args, **kwargs)

    monkeypatch.setattr(lm_eval, "simple_evaluate", record)
    recipe = Recipe.from_dict(
        {**wmdp_run["recipe"].to_yaml_dict(), "eval": {**wmdp_run["recipe"].to_yaml_dict()["eval"], "limit": 2}}
    )
    loaded = (float_model(run), AutoTokenizer.from_pretrained(run))
    evaluate_run(recipe, run, progress=False, loaded=loaded)
    assert scored == [torch.bfloat16, torch.bfloat16]  # the unlearned model (cast), then the target
    metas = [json.loads((run / "evals" / sub / "eval_meta.json").read_text()) for sub in ("", "target")]
    assert [m["settings"]["dtype"] for m in metas] == ["bfloat16", "bfloat16"]
    card = WMDP_BENCH.card_extras(_summary(run / "evals"), _summary(run / "evals" / "target"), recipe, metas[0])
    assert card["scoring_text"].startswith("both models with bfloat16 weights")


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
