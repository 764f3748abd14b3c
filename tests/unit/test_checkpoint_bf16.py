"""convert_to_bf16: what a saved run folder holds after training (BF16 files, tied weights once, a true index)."""

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from hf_unlearn.checkpoint import convert_to_bf16

TIED = {"lm_head.weight": "model.embed_tokens.weight"}


def _save(folder, name, tensors):
    save_file(tensors, str(folder / name), metadata={"format": "pt"})


def test_single_file_becomes_bf16_and_the_config_says_so(tmp_path):
    embed = torch.randn(8, 4)
    _save(tmp_path, "model.safetensors", {"model.embed_tokens.weight": embed, "lm_head.weight": embed.clone()})
    (tmp_path / "config.json").write_text(json.dumps({"torch_dtype": "float32"}))
    convert_to_bf16(tmp_path, tied=TIED)
    saved = load_file(str(tmp_path / "model.safetensors"))
    assert list(saved) == ["model.embed_tokens.weight"]  # the gathered copy of the tied weight is gone
    assert torch.equal(saved["model.embed_tokens.weight"], embed.to(torch.bfloat16))
    assert json.loads((tmp_path / "config.json").read_text()) == {"dtype": "bfloat16"}


def test_an_untied_or_different_copy_is_kept(tmp_path):
    tensors = {"model.embed_tokens.weight": torch.randn(8, 4), "lm_head.weight": torch.randn(8, 4)}
    _save(tmp_path, "model.safetensors", tensors)
    convert_to_bf16(tmp_path, tied=TIED)  # equal-named but different values: a real head, not a copy
    assert set(load_file(str(tmp_path / "model.safetensors"))) == set(tensors)
    convert_to_bf16(tmp_path)
    assert set(load_file(str(tmp_path / "model.safetensors"))) == set(tensors)


def test_a_sharded_index_matches_the_rewritten_files(tmp_path):
    embed = torch.randn(8, 4)
    _save(tmp_path, "model-00001-of-00002.safetensors", {"model.embed_tokens.weight": embed, "norm": torch.ones(4)})
    _save(tmp_path, "model-00002-of-00002.safetensors", {"lm_head.weight": embed.clone(), "w": torch.randn(4, 4)})
    shard = {"model.embed_tokens.weight": 1, "norm": 1, "lm_head.weight": 2, "w": 2}
    weight_map = {k: f"model-0000{i}-of-00002.safetensors" for k, i in shard.items()}
    index = {"metadata": {"total_size": 4 * (32 + 4 + 32 + 16)}, "weight_map": weight_map}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    convert_to_bf16(tmp_path, tied=TIED)
    index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
    # the copy sits in another shard than its source, so it is kept: dropping needs both in one file
    assert set(index["weight_map"]) == set(shard)
    assert index["metadata"]["total_size"] == 2 * (32 + 4 + 32 + 16)
    for name in set(index["weight_map"].values()):
        assert all(t.dtype == torch.bfloat16 for t in load_file(str(tmp_path / name)).values())


@pytest.mark.parametrize("tied", [TIED, None])
def test_a_sharded_index_loses_a_dropped_copy(tmp_path, tied):
    embed = torch.randn(8, 4)
    _save(
        tmp_path,
        "model-00001-of-00001.safetensors",
        {"model.embed_tokens.weight": embed, "lm_head.weight": embed.clone()},
    )
    weight_map = dict.fromkeys(TIED.keys() | TIED.values(), "model-00001-of-00001.safetensors")
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    convert_to_bf16(tmp_path, tied=tied)
    index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
    expected = {"model.embed_tokens.weight"} if tied else set(weight_map)
    assert set(index["weight_map"]) == expected
    assert index["metadata"]["total_size"] == 2 * 32 * len(expected)
