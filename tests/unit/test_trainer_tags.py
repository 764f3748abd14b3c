"""The trained model's tags name the run's benchmark and the method's spec tags, not TOFU whatever the run."""

import pytest
from helpers.trainers import float_model, one_step_args

from hf_unlearn.trainers.config import method_config
from hf_unlearn.trainers.finetune import FinetuneTrainer
from hf_unlearn.trainers.gru import GRUTrainer


@pytest.mark.parametrize("bench", ["wmdp", "tofu"])
def test_model_tags_name_the_runs_benchmark(tiny_dir, tmp_path, bench):
    args = method_config("GRU")(**one_step_args(tmp_path))
    trainer = GRUTrainer(model=float_model(tiny_dir), args=args, benchmark=bench)
    tags = set(trainer.model.model_tags)
    assert tags >= {"hf-unlearn", "machine-unlearning", bench, "gru", "graddiff", "GRU"}
    assert not tags & ({"wmdp", "tofu"} - {bench})


def test_finetuning_tags_its_benchmark_only(tiny_dir, tmp_path):
    args = FinetuneTrainer.config_class(**one_step_args(tmp_path))
    trainer = FinetuneTrainer(model=float_model(tiny_dir), args=args, benchmark="wmdp")
    assert {"hf-unlearn", "wmdp", "Finetune"} <= set(trainer.model.model_tags)
    assert "tofu" not in trainer.model.model_tags
