"""The card's Robustness section and the export's portable copy of ROBUSTNESS.json, from a hand-written result."""

import json

from helpers.runs import make_run

from hf_unlearn.layout import RELEARN_PLOT, ROBUSTNESS_DIR, ROBUSTNESS_FILE
from hf_unlearn.publish.card import render_card
from hf_unlearn.publish.license import LicenseInfo
from hf_unlearn.publish.robustness import export_robustness, portable
from hf_unlearn.publish.run_folder import load_run

RECIPE = {"model": "meta-llama/Llama-3.2-1B-Instruct", "method": "GradDiff", "forget_split": "forget05"}
RESULT = {
    "model": "/private/saves/unlearn/run",
    "retain_model": "/private/saves/finetune/retain",
    "settings": {"data_source": "/private/tofu_data"},
    "before": {"extraction_strength": 0.1},
    "attacks": {
        "relearn": {
            "settings": {"learning_rate": 2e-5, "adapter": "none", "seed": 42, "steps": None},
            "metrics": {"extraction_strength": {"before": 0.1, "after": 0.4, "R": 0.4, "R_sym": 0.5714}},
            "extra": {
                "plot": f"relearn/{RELEARN_PLOT}",
                "runs": {"model": {"model": "/private/saves/unlearn/run", "output_dir": "/private/x/model"}},
            },
        },
        "quantize": {
            "settings": {"bits": 4, "quant_type": "nf4", "compute_dtype": "bfloat16", "library": "bitsandbytes"},
            "metrics": {"extraction_strength": {"before": 0.1, "after": 0.125, "Q": 0.8, "Q_sym": 0.8889}},
            "extra": {"code_change": {"original_model": "/private/target", "changed_fraction": 0.5,
                                      "nf4_changed_fraction": 0.01}},
        },
    },
    "robustness": {"extraction_strength": {"R": 0.4, "Q": 0.8, "HM": 0.5333, "R_sym": 0.5714, "Q_sym": 0.8889}},
}  # fmt: skip


def attacked_run(tmp_path):
    folder = make_run(tmp_path / "run", RECIPE)
    (folder / ROBUSTNESS_DIR / "relearn").mkdir(parents=True)
    (folder / ROBUSTNESS_DIR / ROBUSTNESS_FILE).write_text(json.dumps(RESULT))
    (folder / ROBUSTNESS_DIR / "relearn" / RELEARN_PLOT).write_bytes(b"\x89PNG")
    return load_run(folder)


def test_the_card_of_an_attacked_run_has_a_robustness_section(tmp_path):
    run = attacked_run(tmp_path)
    text = render_card(run, "me/model", LicenseInfo("llama3.2", "x"), None, "no plot")
    section = text.split("## Robustness")[1].split("## How to use it")[0]
    assert "| metric | before | after relearn | after quantize | R | Q | HM(R, Q) | R_sym | Q_sym |" in section
    assert "| extraction_strength | 0.1000 | 0.4000 | 0.1250 | 0.4000 | 0.8000 | 0.5333 | 0.5714 | 0.8889 |" in section
    assert "**quantize**: bits 4, quant_type nf4, compute_dtype bfloat16, library bitsandbytes" in section
    assert "learning_rate 2e-05, adapter none" in section and "steps" not in section.split("**quantize**")[0]
    assert f"]({RELEARN_PLOT})" in section and "0.5000 of the quantized weights and 0.0100 of" in section


def test_an_unattacked_card_has_no_robustness_section(tmp_path):
    run = load_run(make_run(tmp_path / "run", RECIPE))
    assert "## Robustness" not in render_card(run, "me/model", LicenseInfo("llama3.2", "x"), None, "no plot")


def test_the_export_gets_a_copy_without_local_paths(tmp_path):
    run = attacked_run(tmp_path)
    staging = tmp_path / "export"
    staging.mkdir()
    assert export_robustness(run.path, run.robustness, staging) == RELEARN_PLOT
    assert (staging / RELEARN_PLOT).read_bytes() == b"\x89PNG"
    text = (staging / ROBUSTNESS_FILE).read_text()
    assert "/private" not in text
    assert json.loads(text) == portable(RESULT) and portable(RESULT)["model"] == "run"


def test_attack_options_naming_local_folders_are_published_portable(tmp_path):
    from hf_unlearn.publish.portable_recipe import portable_recipe_text
    from hf_unlearn.recipe import Recipe

    target = tmp_path / "private" / "target"
    target.mkdir(parents=True)
    options = {"quantize": {"original_model": str(target), "bits": 4}}
    recipe = Recipe.from_dict({**RECIPE, "eval": {"robustness": ["quantize"], "robustness_options": options}})
    text = portable_recipe_text(recipe)
    assert str(tmp_path) not in text and "original_model: ./target" in text
    assert recipe["eval.robustness_options"] == options  # the run's own recipe keeps its paths
