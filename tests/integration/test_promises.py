"""README promises that no other test pins down: each test here fails if the promise stops holding.

Warm-up and accumulation from the real effective batch, the one-line error for a per-device batch that does not fit
the process count, per-epoch re-pairing through the Trainer, starting over (with a warning) without --resume, what
the evaluation fingerprint covers, data.eos_as_pad reaching the evaluation, open-unlearning's TOFU_EVAL.json as
retain logs, `hf-unlearn demo`'s exit status, and the Hub ids TOFU is loaded with.
"""

import json
import logging
import shutil
from pathlib import Path

import pytest
import torch
from helpers.distributed import UNLEARN, sgd_overrides, weights
from helpers.trainers import float_model, one_step_args
from scipy.stats import ks_2samp

from hf_unlearn import pipeline
from hf_unlearn.cli import main
from hf_unlearn.data import tofu
from hf_unlearn.data.collator import NestedPaddingCollator
from hf_unlearn.data.formatting import ChatFormatter
from hf_unlearn.data.pairing import ForgetRetainDataset, retain_index
from hf_unlearn.evaluation import evaluator as ev
from hf_unlearn.evaluation.evaluator import EvalSettings, evaluate
from hf_unlearn.pipeline import build_training_args, train
from hf_unlearn.recipe import load_recipe
from hf_unlearn.trainers.config import GradDiffConfig
from hf_unlearn.trainers.graddiff import GradDiffTrainer


# ---- warm-up and accumulation from the real effective batch -------------------------------------------------------
@pytest.mark.parametrize(("processes", "per_device", "accumulation"), [(1, 8, 2), (2, 4, 2), (4, 2, 2), (2, 8, 1)])
def test_warmup_is_counted_in_optimizer_steps_of_the_effective_batch(monkeypatch, processes, per_device, accumulation):
    """40 forget rows, effective batch 16: 2.5 optimizer steps an epoch whatever the launcher, so 1.6 warm-up
    epochs are 4 steps (not counted with the per-device batch, nor with the number of devices)."""
    monkeypatch.setattr(pipeline, "world_size", lambda: processes)  # what WORLD_SIZE says under a launcher
    recipe = load_recipe(
        UNLEARN, {"effective_batch_size": 16, "per_device_train_batch_size": per_device, "warmup_epochs": 1.6}
    )
    args = build_training_args(recipe, n_train=40)
    assert args.gradient_accumulation_steps == accumulation
    assert args.warmup_steps == 4


def test_the_trainer_warms_up_over_those_steps(tmp_path, tiny_dir):
    """A real run: the learning rate rises linearly over warm-up steps of the effective batch (16 rows, 8 a step)
    and run_info.json records them."""
    overrides = sgd_overrides(
        tiny_dir,
        tmp_path,
        per_device_train_batch_size=4,
        warmup_epochs=2,
        lr_scheduler_type="constant_with_warmup",
        max_steps=5,
    )
    result = train(load_recipe(UNLEARN, overrides))
    rates = [h["learning_rate"] for h in result.log_history if "learning_rate" in h]
    base = overrides["learning_rate"]
    assert rates == pytest.approx([0, base / 4, base / 2, base * 3 / 4, base])  # the rate each step used
    assert json.loads((result.output_dir / "run_info.json").read_text())["warmup_steps"] == 4


# ---- a per-device batch that does not fit the process count --------------------------------------------------------
def test_per_device_batch_that_does_not_fit_the_processes_is_one_line(tmp_path, tiny_dir, monkeypatch, capsys):
    """8 examples a step over 2 processes can't take 8 per device: the CLI says which sizes fit, in one line."""
    monkeypatch.setenv("WORLD_SIZE", "2")
    args = ["train", str(UNLEARN), "--model", str(tiny_dir), "--output_dir", str(tmp_path / "run")]
    args += ["--effective_batch_size", "8", "--per_device_train_batch_size", "8", "--eval.enabled", "false"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: per_device_train_batch_size:") and "\n" not in err
    assert "with 2 processes use one of [1, 2, 4]" in err
    assert not (tmp_path / "run").exists()


# ---- per-epoch re-pairing through the Trainer ------------------------------------------------------------------
def _sampler_only_set_epoch(self, epoch: int) -> None:
    """accelerate's `DataLoaderShard.set_epoch` as it behaves under several processes: the epoch reaches the
    (seedable) sampler inside `BatchSamplerShard`, never the dataset."""
    self.iteration = epoch
    sampler = getattr(self.batch_sampler, "sampler", None)
    if hasattr(sampler, "set_epoch"):
        sampler.set_epoch(epoch)


@pytest.mark.parametrize("dataloader", ["one-process", "sharded-sampler"])
def test_trainer_re_pairs_forget_and_retain_every_epoch(tmp_path, tiny_dir, tokenizer, monkeypatch, dataloader):
    """Two real epochs: every forget row meets the retain row the pairing defines for (seed, epoch, index).

    With one process accelerate's dataloader forwards the epoch to the dataset; with several it does not, and the
    trainer's own epoch callback is what re-pairs: "sharded-sampler" runs that case in this one process."""
    from accelerate.data_loader import DataLoaderShard

    if dataloader == "sharded-sampler":
        monkeypatch.setattr(DataLoaderShard, "set_epoch", _sampler_only_set_epoch)
    fmt = ChatFormatter(tokenizer)
    forget = fmt.encode_rows(tofu.load_split("forget01", "bundled")[:8])
    retain = fmt.encode_rows(tofu.load_split("retain99", "bundled")[:40])
    collator = NestedPaddingCollator(fmt.pad_token_id)
    seen = []

    def recording_collator(items):
        for item in items:
            i = next(k for k, f in enumerate(forget) if f is item["forget"])
            j = next(k for k, r in enumerate(retain) if r is item["retain"])
            seen.append((i, j))
        return collator(items)

    seed = 3
    args = one_step_args(tmp_path, max_steps=-1, num_train_epochs=2, per_device_train_batch_size=4, seed=seed)
    trainer = GradDiffTrainer(
        model=float_model(tiny_dir),
        args=GradDiffConfig(**{**args, "learning_rate": 1e-6}),
        train_dataset=ForgetRetainDataset(forget, retain, seed=seed),
        data_collator=recording_collator,
    )
    trainer.train()
    assert len(seen) == 16  # two epochs of 8 forget rows
    for epoch, pairs in enumerate((seen[:8], seen[8:])):
        assert sorted(i for i, _ in pairs) == list(range(8))
        assert dict(pairs) == {i: retain_index(seed, epoch, i, len(retain)) for i in range(8)}, epoch
    assert dict(seen[:8]) != dict(seen[8:])


# ---- without --resume, a folder with old checkpoints starts over ---------------------------------------------------
def test_run_without_resume_starts_over_with_a_warning(tmp_path, tiny_dir, caplog):
    """An earlier run (another learning rate) left checkpoints up to max_steps; without --resume the run trains
    from the start model again and ends where a run in an empty folder ends."""
    old = sgd_overrides(
        tiny_dir, tmp_path / "run", max_steps=2, learning_rate=0.5, save_strategy="steps", save_steps=1
    )
    train(load_recipe(UNLEARN, old))
    assert (tmp_path / "run" / "checkpoint-2").is_dir()
    fresh = train(load_recipe(UNLEARN, sgd_overrides(tiny_dir, tmp_path / "fresh", max_steps=2))).output_dir
    with caplog.at_level(logging.WARNING, logger="hf_unlearn.pipeline"):
        again = train(load_recipe(UNLEARN, sgd_overrides(tiny_dir, tmp_path / "run", max_steps=2)))
    assert any("starting over" in r.message and "--resume" in r.message for r in caplog.records)
    assert [h["step"] for h in again.log_history if "loss" in h] == [1, 2]
    for name, tensor in weights(fresh).items():
        assert torch.equal(weights(again.output_dir)[name], tensor), name


# ---- what the evaluation fingerprint covers ------------------------------------------------------------------------
@pytest.fixture
def fingerprinted(tiny_dir, tmp_path, monkeypatch):
    """evaluate() with the model run replaced: only the fingerprint and the reuse decision are exercised."""
    monkeypatch.setattr(ev, "_compute", lambda *a, **k: ({"forget_Q_A_Prob": {"agg_value": 0.5}}, {}))
    model = tmp_path / "model"
    shutil.copytree(tiny_dir, model)
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(tofu.bundled_dir() / "forget01_perturbed.jsonl", data)

    def fingerprint(**settings) -> tuple[str, bool]:
        chosen = {"forget_split": "forget01", "metrics": "forget_Q_A_Prob", "data_source": str(data), **settings}
        result = evaluate(str(model), tmp_path / "evals", EvalSettings(**chosen), progress=False, echo=False)
        return result.meta["fingerprint"], result.reused

    return model, data, fingerprint


def test_fingerprint_covers_tokenizer_config_data_and_eos_as_pad(fingerprinted):
    model, data, fingerprint = fingerprinted
    first, _ = fingerprint()
    assert fingerprint() == (first, True)  # nothing changed: the same fingerprint, results reused
    seen = {first}

    def changed(what: str, **settings) -> None:
        value, reused = fingerprint(**settings)
        assert value not in seen and not reused, what
        seen.add(value)

    changed("eos_as_pad", eos_as_pad=True, es_one_over_n=False)  # ES's floor would otherwise follow eos_as_pad
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "config.json"):
        assert (model / name).is_file(), name
        with open(model / name, "a") as fh:
            fh.write("\n")
        changed(name)
    rows = (data / "forget01_perturbed.jsonl").read_text().splitlines()
    row = json.loads(rows[0])
    row["answer"] += " (edited)"
    (data / "forget01_perturbed.jsonl").write_text("\n".join([json.dumps(row), *rows[1:]]) + "\n")
    changed("data")


# ---- data.eos_as_pad reaches the evaluation stage -------------------------------------------------------------
def test_recipe_eos_as_pad_carries_into_the_evaluation(tmp_path, monkeypatch):
    from hf_unlearn import run as run_module
    from hf_unlearn.benchmarks import tofu
    from hf_unlearn.evaluation import stage

    recipe_file = tmp_path / "forget01_GradDiff_lr0.0005_alpha5_epoch10.yaml"
    recipe_file.write_text(UNLEARN.read_text().replace("data:\n", "data:\n  eos_as_pad: true\n"))
    seen = []

    def fake_evaluate(model, output_dir, settings, **kwargs):
        seen.append(settings)
        return ev.EvalResult(Path(output_dir), {}, {}, {}, False)

    monkeypatch.setattr(tofu, "evaluate", fake_evaluate)
    monkeypatch.setattr(stage, "write_json", lambda *a: None)
    run_module.evaluation_stage(load_recipe(recipe_file), tmp_path)
    assert len(seen) == 2 and all(s.eos_as_pad for s in seen)  # the unlearned model and the target alike
    seen.clear()
    run_module.evaluation_stage(load_recipe(UNLEARN), tmp_path)
    assert seen and not any(s.eos_as_pad for s in seen)


# ---- --retain-logs with open-unlearning's own TOFU_EVAL.json ---------------------------------------------------------
def _open_unlearning_eval(scores: list[float]) -> dict:
    """A retain model's TOFU_EVAL.json as open-unlearning writes it: every metric, child metrics included, per-item
    values keyed by the dataset index as a string, and the reference-relative metrics null."""
    items = range(len(scores))
    prob = {"agg_value": 0.4, "value_by_index": {str(i): {"prob": 0.4, "avg_loss": 0.92} for i in items}}
    pert = {str(i): {"prob": [0.1] * 5, "avg_loss": [2.3] * 5} for i in items}
    mia_side = {"agg_value": -2.0, "value_by_index": {str(i): {"score": -2.0} for i in items}}
    logs = {
        "extraction_strength": {"agg_value": 0.05, "value_by_index": {str(i): {"score": 0.05} for i in items}},
        "forget_Q_A_PARA_Prob": prob,
        "forget_Q_A_PERT_Prob": {"agg_value": 0.1, "value_by_index": pert},
        "forget_Q_A_Prob": prob,
        "forget_Q_A_ROUGE": {
            "agg_value": 0.3,
            "value_by_index": {
                str(i): {
                    "rouge1_recall": 0.4,
                    "rougeL_f1": 0.3,
                    "rougeL_recall": 0.3,
                    "input": "question",
                    "ground_truth": "answer",
                    "generation": "generation",
                }
                for i in items
            },
        },
        "forget_quality": {"agg_value": None},
        "forget_truth_ratio": {
            "agg_value": 0.6,
            "value_by_index": {str(i): {"score": s} for i, s in enumerate(scores)},
        },
        "mia_min_k": {"forget": mia_side, "holdout": mia_side, "auc": 0.5, "agg_value": 0.5},
        "model_utility": {"agg_value": 0.6},
        "privleak": {"agg_value": None},
    }
    return dict(sorted(logs.items()))


def test_retain_logs_in_open_unlearning_layout_give_forget_quality(tmp_path, tiny_dir, capsys):
    theirs = [1e-3, 40.0, 50.0, 60.0]  # around the untrained model's ratios (near 1)
    logs = tmp_path / "tofu_retain" / "TOFU_EVAL.json"
    logs.parent.mkdir()
    logs.write_text(json.dumps(_open_unlearning_eval(theirs), indent=4))
    out = tmp_path / "evals"
    args = ["eval", str(tiny_dir), "--forget-split", "forget01", "--metrics", "forget_quality", "--limit", "4"]
    args += ["--data-source", "bundled", "--retain-logs", str(logs), "--output-dir", str(out), "--no-progress"]
    assert main(args) == 0
    results = json.loads((out / "TOFU_EVAL.json").read_text())
    by_index = results["forget_truth_ratio"]["value_by_index"]
    own = [by_index[k]["score"] for k in sorted(by_index, key=int)]
    expected = ks_2samp(own, theirs).pvalue
    assert expected < 0.9  # the two samples differ: a forget quality of 1 would not be this one
    assert results["forget_quality"]["agg_value"] == pytest.approx(expected)
    summary = json.loads((out / "TOFU_SUMMARY.json").read_text())
    assert summary["forget_quality"] == pytest.approx(expected)
    assert json.loads((out / "eval_meta.json").read_text())["retain_logs"] == str(logs)


# ---- hf-unlearn demo's exit status -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("unlearned", "status"),
    [({"forget": 0.2, "retain": 0.9}, 0), ({"forget": 0.6, "retain": 0.9}, 1), ({"forget": 0.2, "retain": 0.7}, 1)],
    ids=["passes", "forget-too-high", "retain-lost"],
)
def test_demo_exits_1_when_acceptance_fails(tmp_path, monkeypatch, capsys, unlearned, status):
    """Target probabilities 1.0 / 1.0: forget must fall to at most 0.5 and retain stay at least 0.8."""
    from hf_unlearn import demo

    def fake_run_demo(output_dir, overwrite=False):
        dirs = [Path(output_dir) / name for name in ("target", "retain", "unlearned")]
        return demo.DemoResult(*dirs, {"target": {"forget": 1.0, "retain": 1.0}, "unlearned": unlearned})

    monkeypatch.setattr(demo, "run_demo", fake_run_demo)
    assert main(["demo", "--output-dir", str(tmp_path)]) == status
    out = capsys.readouterr().out
    assert ("PASS" in out) == (status == 0) and ("FAIL" in out) == (status == 1)


# ---- TOFU from the Hub: the dataset id, config and split --------------------------------------------------------------
@pytest.fixture
def hub_calls(monkeypatch):
    """`datasets.load_dataset` replaced: records (path, config, split) and returns one row naming the config."""
    import datasets

    calls = []

    def fake_load_dataset(path, name=None, split=None, **kwargs):
        calls.append((path, name, split))
        return [{"question": f"q {name}", "answer": f"a {name}"}]

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    monkeypatch.setattr(tofu, "_hub_offline", lambda: False)
    return calls


def test_training_splits_come_from_locuslab_tofu(hub_calls, tiny_dir, tokenizer):
    from hf_unlearn.benchmarks.tofu import build_dataset

    recipe = load_recipe(UNLEARN, {"model": str(tiny_dir), "forget_split": "forget05", "data.source": "hub"})
    _, rows = build_dataset(recipe, ChatFormatter(tokenizer))
    assert hub_calls == [("locuslab/TOFU", "forget05", "train"), ("locuslab/TOFU", "retain95", "train")]
    assert rows["forget"][0]["answer"] == "a forget05" and rows["retain"][0]["answer"] == "a retain95"


@pytest.mark.parametrize("source", ["hub", "auto"])
def test_evaluation_sets_come_from_locuslab_tofu(hub_calls, source):
    from hf_unlearn.evaluation.eval_sets import DATASETS, load_eval_sets

    sets = load_eval_sets(set(DATASETS), "forget10", source)
    configs = [
        "forget10_perturbed",
        "retain_perturbed",
        "real_authors_perturbed",
        "world_facts_perturbed",
        "holdout10",
    ]
    assert hub_calls == [("locuslab/TOFU", config, "train") for config in configs]
    assert sets.rows["holdout"] == [{"question": "q holdout10", "answer": "a holdout10"}] and not sets.absent
