"""TOFU splits: the bundled copy, the Hub-first loader and its fallbacks."""

import json
import logging

import pytest

from hf_unlearn.data import tofu


@pytest.mark.parametrize(
    ("split", "rows"),
    [("full", 4000), ("forget01", 40), ("forget10", 400), ("retain90", 3600), ("retain_perturbed", 400)],
)
def test_bundled_sizes(split, rows):
    assert len(tofu.load_split(split, "bundled")) == rows


def test_bundled_relations():
    full = tofu.load_split("full", "bundled")
    assert full[:3600] == tofu.load_split("retain90", "bundled")
    assert full[3600:] == tofu.load_split("forget10", "bundled")
    assert tofu.load_split("forget10", "bundled")[-40:] == tofu.load_split("forget01", "bundled")
    pert = tofu.load_split("forget10_perturbed", "bundled")[0]
    assert len(pert["perturbed_answer"]) == 5 and pert["paraphrased_answer"]


def test_bundled_licence_is_packaged():
    assert "MIT" in (tofu.bundled_dir() / "LICENSE").read_text()
    assert len(tofu.load_idk_answers()) >= 99


def test_offline_auto_uses_bundled_without_touching_the_hub(monkeypatch):
    monkeypatch.setattr(tofu, "_load_from_hub", lambda split: pytest.fail("the Hub was called"))
    assert len(tofu.load_split("forget01", "auto")) == 40


def test_auto_falls_back_after_connection_error(monkeypatch, caplog):
    monkeypatch.setattr(tofu, "_hub_offline", lambda: False)
    monkeypatch.setattr(tofu, "_announced", set())

    def unreachable(split):
        raise ConnectionError("Couldn't reach 'locuslab/TOFU' on the Hub")

    monkeypatch.setattr(tofu, "_load_from_hub", unreachable)
    with caplog.at_level(logging.WARNING):
        assert len(tofu.load_split("forget01", "auto")) == 40
        assert len(tofu.load_split("forget05", "auto")) == 200
    said = [r.message for r in caplog.records if "unreachable" in r.message]
    assert len(said) == 1  # the source is announced once


def test_hub_source_does_not_fall_back(monkeypatch):
    monkeypatch.setattr(tofu, "_load_from_hub", lambda split: (_ for _ in ()).throw(ConnectionError("down")))
    with pytest.raises(ConnectionError, match="data.source: bundled"):
        tofu.load_split("forget01", "hub")


def test_hub_source_uses_the_hub(monkeypatch):
    monkeypatch.setattr(tofu, "_load_from_hub", lambda split: [{"question": "q", "answer": split}])
    assert tofu.load_split("forget01", "hub") == [{"question": "q", "answer": "forget01"}]


def test_directory_source(tmp_path):
    (tmp_path / "holdout01.jsonl").write_text(json.dumps({"question": "q", "answer": "a"}) + "\n")
    assert tofu.load_split("holdout01", str(tmp_path)) == [{"question": "q", "answer": "a"}]


def test_holdout_is_not_bundled():
    with pytest.raises(tofu.SplitUnavailableError, match="only on the Hub"):
        tofu.load_split("holdout10", "bundled")


def test_a_missing_split_is_named_without_a_path_of_this_machine(tmp_path):
    """The message becomes a published absent reason (no holdout set): it names the folder, never its path."""
    with pytest.raises(tofu.SplitUnavailableError) as err:
        tofu.load_split("holdout01", "bundled")
    assert "'holdout01' is not in the copy bundled with hf_unlearn" in str(err.value)
    assert str(tofu.bundled_dir()) not in str(err.value) and "/" not in str(err.value).split("locuslab/TOFU")[0]
    (tmp_path / "mine").mkdir()
    with pytest.raises(tofu.SplitUnavailableError) as err:
        tofu.load_split("forget01", str(tmp_path / "mine"))
    assert "is not in the data.source folder 'mine'" in str(err.value) and str(tmp_path) not in str(err.value)
