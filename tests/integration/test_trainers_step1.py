"""Each method's loss on its first batch, before any update, pinned to the values the code computed when the
method declarations were unified: a refactor of how methods are declared must not change a number.

Each trainer is built the way `hf-unlearn train` builds it (recipe -> dataset, training arguments) on the untrained
tiny Llama (seed 0), with another tiny Llama (seed 1) as the reference, so log-ratios and KL terms are not trivially
zero. Recipes set only what the tiny model needs; every method hyper-parameter is its default.
"""

import pytest
import torch
from helpers.altpo import handmade_alternates
from helpers.trainers import first_batch, float_model

from hf_unlearn.benchmarks.tofu import build_dataset
from hf_unlearn.data.collator import NestedPaddingCollator
from hf_unlearn.data.formatting import ChatFormatter
from hf_unlearn.pipeline import build_training_args, trainer_class
from hf_unlearn.recipe import Recipe
from hf_unlearn.tiny import save_tiny

#: (case, method, settings) -> loss of the first batch (4 items), effective-batch normalisation unless set.
CASES = {
    "GradAscent": ("GradAscent", {}),
    "GradDiff": ("GradDiff", {}),
    "GradDiff-KL": ("GradDiff", {"retain_loss_type": "KL"}),
    "NPO": ("NPO", {}),
    "SimNPO": ("SimNPO", {}),
    "IdkDPO": ("IdkDPO", {}),
    "IdkNLL": ("IdkNLL", {}),
    "RMU": ("RMU", {"module_regex": r"model\.layers\.1"}),
    "UNDIAL": ("UNDIAL", {}),
    "WGA": ("WGA", {}),
    "SatImp": ("SatImp", {}),
    "CEU": ("CEU", {}),
    "PDU": ("PDU", {"retain_loss_eps": 0.5}),
    "AltPO": ("AltPO", {}),  # + a hand-written alternates file (`step1_loss`)
    "GRU": ("GRU", {}),
    "GRU-gd_gru": ("GRU", {"variant": "gd_gru"}),
}
#: Measured on CPU (torch 2.13, one thread) before the refactor (AltPO: when it was added).
EXPECTED: dict[str, float] = {
    "GradAscent": -7.678494453430176,
    "GradDiff": -0.028131961822509766,
    "GradDiff-KL": -7.625563621520996,
    "NPO": 20.52005958557129,
    "SimNPO": 7.650362491607666,
    "IdkDPO": 19.774965286254883,
    "IdkNLL": 15.298842430114746,
    "RMU": 0.03419023007154465,
    "UNDIAL": 7.65177583694458,
    "WGA": 7.646718502044678,
    "SatImp": 0.7650362849235535,
    "CEU": 7.597058296203613,
    "PDU": 7.946571409702301,
    "AltPO": 18.544837951660156,
    # GRU's loss is its step's objective before the projection: ga_gru's (the default since it follows the official
    # code) is GradAscent's, gd_gru's GradDiff's
    "GRU": -7.678494453430176,
    "GRU-gd_gru": -0.028131961822509766,
}


@pytest.fixture(scope="module")
def reference_dir(tmp_path_factory):
    return save_tiny(tmp_path_factory.mktemp("tiny_ref") / "tiny-llama", seed=1)


def _recipe(method: str, settings: dict, model_dir, out) -> Recipe:
    raw = {
        "model": str(model_dir),
        "method": method,
        "forget_split": "forget01",
        "data": {"source": "bundled", "forget_limit": 8, "retain_limit": 8},
        "effective_batch_size": 4,
        "per_device_train_batch_size": 4,
        "warmup_epochs": 0.0,
        "bf16": False,
        "output_dir": str(out),
    }
    return Recipe.from_dict({**raw, **settings})


@torch.no_grad()
def step1_loss(method: str, settings: dict, tmp_path, tokenizer, model_dir, reference_dir) -> float:
    if method == "AltPO":
        settings = {**settings, "alternates": str(handmade_alternates(tmp_path / "alternates.json"))}
    recipe = _recipe(method, settings, model_dir, tmp_path / "out")
    formatter = ChatFormatter(tokenizer)
    dataset, _ = build_dataset(recipe, formatter)
    args = build_training_args(recipe, n_train=len(dataset))
    cls = trainer_class(recipe)
    trainer = cls(
        model=float_model(model_dir),
        args=args,
        ref_model=float_model(reference_dir) if cls.requires_reference(args) else None,
        train_dataset=dataset,
        data_collator=NestedPaddingCollator(formatter.pad_token_id),
    )
    batch = first_batch(trainer)
    counts = trainer._get_num_items_in_batch([batch], torch.device("cpu"))
    return float(trainer.compute_loss(trainer.model, batch, num_items_in_batch=counts))


@pytest.mark.parametrize("case", list(CASES))
def test_step1_loss_unchanged(case, tmp_path, tokenizer, tiny_dir, reference_dir):
    method, settings = CASES[case]
    loss = step1_loss(method, settings, tmp_path, tokenizer, tiny_dir, reference_dir)
    # abs: GradDiff's default loss is a small difference of two ~7.6 token means
    assert loss == pytest.approx(EXPECTED[case], rel=1e-4, abs=1e-5)
