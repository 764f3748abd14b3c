"""RWKU's data: the synthetic stand-in has every Hub config, split and column and loads through the same
`datasets.load_dataset` call as the Hub; one-line errors offline and on a bad folder; target selection."""

from __future__ import annotations

import json

import pytest
import yaml

from hf_unlearn.benchmarks.rwku import data as D
from hf_unlearn.benchmarks.rwku.synthetic import ATTACK_TYPES, build_configs, write_synthetic_rwku
from hf_unlearn.errors import UserError


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_synthetic_rwku(tmp_path_factory.mktemp("rwku") / "RWKU", n_targets=2)


def test_readme_maps_every_config_to_its_file_and_split(folder):
    header = (folder / "README.md").read_text(encoding="utf-8").split("---")[1]
    configs = {c["config_name"]: c["data_files"] for c in yaml.safe_load(header)["configs"]}
    assert list(configs) == list(D.CONFIGS)
    assert configs["forget_target"] == [{"split": "train", "path": "All/intro.json"}]
    assert configs["mia_forget"] == [{"split": "test", "path": "All/forget_mia.json"}]
    assert configs["train_refusal_phi3"] == [{"split": "train", "path": "All/reject_phi.json"}]
    assert all((folder / files[0]["path"]).is_file() for files in configs.values())


def test_every_config_loads_with_its_columns_and_types(folder):
    for config, spec in D.CONFIGS.items():
        rows = D.load_config(config, str(folder))
        assert rows and all(set(spec.columns) <= set(r) for r in rows), config
    levels = {row["level"] for row in D.load_config("forget_level3", str(folder))}
    assert levels == {"3"}  # a string, as on the Hub: the prompt builder compares strings
    mmlu = D.load_config("utility_general", str(folder))[0]
    assert isinstance(mmlu["answer"], int) and len(mmlu["choices"]) == 4 and len(mmlu["examples"]) == 5
    assert isinstance(D.load_config("utility_reason", str(folder))[0]["answer"], str)
    tqa = D.load_config("utility_truthfulness", str(folder))[0]
    assert set(tqa["mc1_targets"]) == {"choices", "labels"}
    assert isinstance(D.load_config("mia_forget", str(folder))[0]["ngram"], int)


def test_targets_and_their_rows(folder):
    names = D.target_names(str(folder))
    assert len(names) == 2
    intro = D.load_config("forget_target", str(folder))[0]["intro"]
    assert intro.startswith(f"Please forget {names[0]}. ")
    rows = D.target_rows(
        ["forget_level1", "forget_level3", "mia_retain"], D.resolve_targets(["2"], names), str(folder)
    )
    (target,) = rows
    assert target == f"2_{names[1].replace(' ', '_')}"
    assert {r["subject"] for r in rows[target]["forget_level1"]} == {names[1]}
    assert {r["type"] for r in rows[target]["forget_level3"]} == set(ATTACK_TYPES)
    assert rows[target]["mia_retain"] and names[1] not in rows[target]["mia_retain"][0]["text"]


def test_synthetic_corpora_follow_the_naming_trap():
    configs = build_configs(n_targets=1, corpus_size=2)
    pair, positive, negative = (configs[f"train_{k}_llama3"][1] for k in ("pair", "positive", "negative"))
    assert pair["response"] == [negative["text"], positive["text"]]  # [counterfactual (chosen), factual]
    assert pair["id"] == positive["id"] == negative["id"] and pair["id"].endswith(" 1")
    assert configs["train_refusal_llama3"][0]["input"] == ""


def test_offline_hub_is_one_line_naming_the_dataset():
    with pytest.raises(UserError) as err:
        D.load_config("forget_level1", "hub")
    message = str(err.value)
    assert "jinzhuoran/RWKU" in message and "forget_level1" in message and "\n" not in message


def test_bad_folder_missing_column_and_unknown_config(tmp_path, folder):
    with pytest.raises(UserError, match="not an RWKU dataset folder"):
        D.load_config("forget_level1", str(tmp_path))
    broken = write_synthetic_rwku(tmp_path / "broken", n_targets=1)
    path = broken / "All" / "forget_level1.json"
    rows = json.loads(path.read_text())
    path.write_text(json.dumps([{k: v for k, v in r.items() if k != "type"} for r in rows]))
    with pytest.raises(UserError, match="no column 'type'"):
        D.load_config("forget_level1", str(broken))
    with pytest.raises(UserError, match="has no config 'forget'.*forget_target"):
        D.load_config("forget", str(folder))


NAMES = ["Stephen King", "Confucius", "Prince Harry, Duke of Sussex", "Beyoncé", "Robert Downey Jr."]


def test_resolve_targets_by_index_range_name_and_folder():
    got = D.resolve_targets(["3", "1-2", "Confucius", "5_Robert_Downey_Jr."], NAMES)
    assert [(t.index, t.name) for t in got] == [(3, NAMES[2]), (1, NAMES[0]), (2, NAMES[1]), (5, NAMES[4])]
    assert got[0].dir_name == "3_Prince_Harry,_Duke_of_Sussex"  # spaces only are replaced
    assert D.Target(4, "Beyoncé").dir_name == "4_Beyoncé"
    for bad, match in (("0", "out of range"), ("6", "out of range"), ("Nobody", "not an RWKU target")):
        with pytest.raises(UserError, match=match):
            D.resolve_targets([bad], NAMES)
    with pytest.raises(UserError, match="no target"):
        D.resolve_targets(["3-1"], NAMES)


def test_batch_names():
    targets = D.resolve_targets(["1-4"], NAMES)
    assert D.batch_name(targets) == "1-4"
    assert D.batch_name(targets[:1]) == "1_Stephen_King"
    assert D.batch_name(D.resolve_targets(["1", "3"], NAMES)) == "1+3"
