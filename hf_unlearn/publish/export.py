"""The export folder: exactly what a user downloads (BF16 weights, config, tokenizer, card, plot, recipe, evals).

Built from a finished run folder into a fresh folder, so nothing a run leaves behind (training_args.bin, optimizer
and scheduler state, RNG state, checkpoints) can reach the Hub, and checked again before any upload.
"""

from __future__ import annotations

import fnmatch
import json
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

from hf_unlearn.layout import ADAPTER_CONFIG, EVALS_DIR, EXPORT_DIR, LOSS_PLOT, MODEL_CONFIG, RECIPE_FILE
from hf_unlearn.publish.card import render_card
from hf_unlearn.publish.errors import PublishError
from hf_unlearn.publish.license import resolve_license
from hf_unlearn.publish.plot import write_loss_plot
from hf_unlearn.publish.portable import adapter_base, make_json_portable
from hf_unlearn.publish.portable_recipe import portable_recipe_text
from hf_unlearn.publish.robustness import export_robustness
from hf_unlearn.publish.run_folder import RunFolder

CARD_FILE = "README.md"
MODEL_FILES = (MODEL_CONFIG, "generation_config.json", "model.safetensors.index.json")
TOKENIZER_FILES = (
    "tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "chat_template.json", "special_tokens_map.json",
    "tokenizer.model", "added_tokens.json", "vocab.json", "merges.txt",
)  # fmt: skip
TOKENIZER_DIRS = ("additional_chat_templates",)
#: Never published: training state, pickles, checkpoints.
FORBIDDEN = (
    "training_args.bin", "optimizer*", "scheduler*", "rng_state*", "checkpoint-*", "global_step*", "*.pt", "*.pth",
    "*.bin", "*.pkl", "zero_to_fp32.py",
)  # fmt: skip


@dataclass
class ExportResult:
    path: Path
    repo_id: str
    license: str
    plot_note: str | None
    files: list[str]


def _is_forbidden(relpath: str) -> bool:
    return any(fnmatch.fnmatch(part, pattern) for part in Path(relpath).parts for pattern in FORBIDDEN)


def weight_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.safetensors"))


def safetensors_dtypes(path: Path) -> dict[str, str]:
    """{tensor: dtype} from the file header alone (no tensor data read)."""
    with open(path, "rb") as handle:
        (size,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(size))
    return {name: meta["dtype"] for name, meta in header.items() if name != "__metadata__"}


def check_weights(folder: Path) -> None:
    """Refuse weights with NaN or inf, naming the tensors: such a model generates garbage for everyone."""
    import torch
    from safetensors import safe_open

    files = weight_files(folder)
    if not files:
        raise PublishError(f"no model weights: {folder} has no *.safetensors file")
    bad: list[str] = []
    for path in files:
        with safe_open(str(path), framework="pt") as handle:
            for name in handle.keys():
                tensor = handle.get_tensor(name)
                if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                    bad.append(name)
    if bad:
        shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise PublishError(f"refusing to publish: non-finite weights (NaN or inf) in {len(bad)} tensor(s): {shown}")


def _is_adapter(folder: Path) -> bool:
    return (folder / ADAPTER_CONFIG).is_file() and not (folder / MODEL_CONFIG).is_file()


def _is_bf16(folder: Path) -> bool:
    config = folder / MODEL_CONFIG
    dtype = json.loads(config.read_text()).get("dtype") if config.is_file() else None
    if dtype != "bfloat16" and not _is_adapter(folder):
        return False
    floats = ("F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2")
    return all(d == "BF16" for p in weight_files(folder) for d in safetensors_dtypes(p).values() if d in floats)


def ensure_bf16(folder: Path) -> None:
    """Run folders are BF16 already; older or hand-made ones are converted so the export always is."""
    if not _is_bf16(folder):
        from hf_unlearn.checkpoint import convert_to_bf16

        convert_to_bf16(folder)


def verify_export(folder: Path, secrets: tuple[str | None, ...] = (), check_tensors: bool = False) -> list[str]:
    """Everything that must hold before an upload; returns the files to upload (relative paths)."""
    from huggingface_hub import ModelCard

    folder = Path(folder)
    if not folder.is_dir():
        raise PublishError(f"export folder {folder} does not exist")
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    card = folder / CARD_FILE
    if not card.is_file():
        raise PublishError(f"refusing to publish without a model card: {card} is missing")
    try:
        ModelCard.load(card)
    except Exception as err:
        raise PublishError(f"refusing to publish: the model card {card} does not parse ({err})") from None
    forbidden = [f for f in files if _is_forbidden(f)]
    if forbidden:
        raise PublishError(f"refusing to publish training state or pickles: {', '.join(forbidden)} in {folder}")
    has_config = (folder / MODEL_CONFIG).is_file() or _is_adapter(folder)
    if not has_config or not weight_files(folder):
        raise PublishError(f"refusing to publish: {folder} lacks config.json or *.safetensors weights")
    if not _is_bf16(folder):
        raise PublishError(f"refusing to publish: the weights in {folder} are not BF16 (config.json and tensors)")
    for secret in (s for s in secrets if s):
        leaking = [f for f in files if not f.endswith(".safetensors") and secret.encode() in (folder / f).read_bytes()]
        if leaking:
            raise PublishError(f"refusing to publish: the Hub token appears in {', '.join(leaking)}")
    if check_tensors:
        check_weights(folder)
    return files


def _fresh_folder(target: Path, run_dir: Path) -> Path:
    if target.exists():
        ours = target.parent == run_dir or (target / CARD_FILE).is_file() or not any(target.iterdir())
        if not ours:
            raise PublishError(f"export folder {target} exists and is not an earlier export; choose another one")
    staging = target.with_name(target.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    return staging


ADAPTER_FILES = ("adapter_model.safetensors", ADAPTER_CONFIG)


def _copy_model_files(run_dir: Path, staging: Path, adapter: dict | None = None) -> None:
    """Model weights and config, or (publishing a LoRA adapter) the adapter files; then the tokenizer."""
    if adapter:
        source = run_dir / adapter["adapter_dir"]
        for name in ADAPTER_FILES:
            if not (source / name).is_file():
                raise PublishError(f"refusing to publish: the LoRA adapter file {source / name} is missing")
            shutil.copy2(source / name, staging / name)
        names = TOKENIZER_FILES
    else:
        for path in weight_files(run_dir):
            shutil.copy2(path, staging / path.name)
        names = MODEL_FILES + TOKENIZER_FILES
    for name in names:
        if (run_dir / name).is_file():
            shutil.copy2(run_dir / name, staging / name)
    for name in TOKENIZER_DIRS:
        if (run_dir / name).is_dir():
            shutil.copytree(run_dir / name, staging / name)


def make_portable(staging: Path, run: RunFolder) -> None:
    """No path of this machine in the export's metadata: a published adapter names its base by Hub id where one is
    known, and every other local path in a JSON file follows the rule of `portable`. Tokenizer files are data
    (their strings are tokens, not paths) and are left as they are."""
    adapter = staging / ADAPTER_CONFIG
    if run.publishes_adapter:
        config = json.loads(adapter.read_text(encoding="utf-8"))
        config["base_model_name_or_path"] = adapter_base(run)
        adapter.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    for path in sorted(staging.rglob("*.json")):
        if path.name not in TOKENIZER_FILES:
            make_json_portable(path)


def build_export(
    run: RunFolder,
    repo_id: str,
    export_dir: str | Path | None = None,
    api=None,
    templates_dir: str | Path | None = None,
) -> ExportResult:
    """Write the export folder for `run` (default `<run>/export`), card included; replaces an earlier export."""
    target = Path(export_dir) if export_dir else run.path / EXPORT_DIR
    staging = _fresh_folder(target, run.path)
    try:
        _copy_model_files(run.path, staging, run.lora if run.publishes_adapter else None)
        (staging / RECIPE_FILE).write_text(portable_recipe_text(run.recipe), encoding="utf-8")
        ensure_bf16(staging)
        for path in run.eval_files():
            (staging / EVALS_DIR).mkdir(exist_ok=True)
            shutil.copy2(path, staging / EVALS_DIR / path.name)
        make_portable(staging, run)
        export_robustness(run.path, run.robustness, staging)
        title = f"{repo_id.split('/')[-1]}"
        selected = (run.info.get("selection") or {}).get("kept_step")
        plot_note = write_loss_plot(run.log_history, staging / LOSS_PLOT, title=title, selected_step=selected)
        license = resolve_license([run.info.get("base_model"), run.info.get("tokenizer")], api)
        card = render_card(run, repo_id, license, None if plot_note else LOSS_PLOT, plot_note, templates_dir)
        (staging / CARD_FILE).write_text(card, encoding="utf-8")
        files = verify_export(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return ExportResult(target, repo_id, license.license, plot_note, files)
