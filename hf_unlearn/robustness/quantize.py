"""The quantization attack: reload the unlearned model quantized and re-measure (open-unlearning's A2 protocol).

Default: bitsandbytes 4-bit NF4 with bfloat16 compute and no double quantization (`bits: 4`, `quant_type: nf4`,
`compute_dtype: bfloat16`); `quant_type: fp4` with `compute_dtype: float32` is what a bare `load_in_4bit=True`
gives (open-unlearning's paper setting), `bits: 8` is LLM.int8. bitsandbytes runs on CPU from 0.50 on
(`pip install hf-unlearn[quant]`). No calibration data and no control: Q compares the model with itself.

Beside Q the attack reports how many NF4 codes the unlearning changed (`original_model`: the model unlearning
started from), from a dependency-free NF4 quantize -> dequantize that reproduces bitsandbytes' weights: a value
near 0 means the 4-bit model cannot tell the two apart, so Q near 1 says little.
"""

from __future__ import annotations

from hf_unlearn.errors import UserError
from hf_unlearn.models import load_eval_model, load_tokenizer, local_model_dir
from hf_unlearn.robustness.context import AttackContext, AttackRecord
from hf_unlearn.robustness.measure import knowledge_values
from hf_unlearn.robustness.scores import quantize_entry

#: bitsandbytes' NF4 code values (quantiles of a normal distribution, scaled to [-1, 1])
NF4_CODES = (
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
    -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
    0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
)  # fmt: skip
BLOCK_SIZE = 64
DEFAULTS = {"bits": 4, "quant_type": "nf4", "compute_dtype": "bfloat16", "double_quant": False}
QUANT_TYPES = ("nf4", "fp4")
COMPUTE_DTYPES = ("bfloat16", "float16", "float32")


def quant_settings(options: dict) -> dict:
    """The attack's settings from its options, checked (one-line errors naming the option)."""
    known = set(DEFAULTS) | {"original_model"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise UserError(f"quantize: unknown option '{unknown[0]}'; allowed: {', '.join(sorted(known))}")
    out = {**DEFAULTS, **{k: v for k, v in options.items() if k in DEFAULTS}}
    out["bits"] = int(out["bits"])
    if out["bits"] not in (4, 8):
        raise UserError(f"quantize: bits must be 4 or 8, got {out['bits']}")
    if out["quant_type"] not in QUANT_TYPES:
        raise UserError(f"quantize: quant_type must be one of {', '.join(QUANT_TYPES)}, got {out['quant_type']}")
    if out["compute_dtype"] not in COMPUTE_DTYPES:
        raise UserError(f"quantize: compute_dtype must be one of {', '.join(COMPUTE_DTYPES)}")
    if out["bits"] == 8:
        out = {"bits": 8, "llm_int8_threshold": 6.0}
    return out


def bnb_config(settings: dict):
    """The transformers `BitsAndBytesConfig` of the settings."""
    import torch
    from transformers import BitsAndBytesConfig

    if settings["bits"] == 8:
        return BitsAndBytesConfig(load_in_8bit=True, llm_int8_threshold=settings["llm_int8_threshold"])
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=settings["quant_type"],
        bnb_4bit_compute_dtype=getattr(torch, settings["compute_dtype"]),
        bnb_4bit_use_double_quant=bool(settings["double_quant"]),
    )


def library_versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("bitsandbytes", "transformers", "torch"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def load_quantized(model_dir, settings: dict, dtype: str, device: str):
    """The saved checkpoint itself, quantized while loading (not an upcast or re-saved copy of it)."""
    import torch
    from transformers import AutoModelForCausalLM

    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise UserError("quantize: needs bitsandbytes>=0.50 (pip install 'hf-unlearn[quant]')") from None
    model = AutoModelForCausalLM.from_pretrained(
        model_dir,
        dtype=getattr(torch, dtype),
        quantization_config=bnb_config(settings),
        device_map="auto" if device.startswith("cuda") else device,
        attn_implementation="sdpa",
    )
    return model.eval()


# ---- simulated NF4 and the code-change diagnostic -------------------------------------------------------------
def nf4_roundtrip(weight, block_size: int = BLOCK_SIZE):
    """A weight's NF4 quantize -> dequantize image as bitsandbytes computes it: blocks of `block_size` values
    (flattened), each scaled by its absmax and rounded to the nearest code."""
    import torch

    flat = weight.detach().float().flatten()
    pad = (-flat.numel()) % block_size
    blocks = torch.nn.functional.pad(flat, (0, pad)).view(-1, block_size)
    absmax = blocks.abs().amax(dim=1, keepdim=True)
    scaled = blocks / absmax.clamp_min(torch.finfo(torch.float32).tiny)
    codes = torch.tensor(NF4_CODES)
    index = torch.bucketize(scaled, (codes[1:] + codes[:-1]) / 2)  # nearest code, without a per-code copy
    return (codes[index] * absmax).flatten()[: flat.numel()].view(weight.shape)


def quantized_weights(model) -> dict:
    """The weights 4-bit quantization touches: every Linear's except the output head's (which, like the
    embeddings, stays in full precision)."""
    import torch

    head = model.get_output_embeddings()
    return {
        f"{name}.weight": module.weight
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and module is not head
    }


def code_change(model, original) -> dict:
    """Fractions of the quantized weights whose value differs between two models, in the saved precision and
    after NF4 rounding."""
    mine, theirs = quantized_weights(model), quantized_weights(original)
    total = changed = changed_nf4 = 0
    for name, weight in mine.items():
        other = theirs.get(name)
        if other is None or other.shape != weight.shape:
            raise UserError(f"quantize: original_model has no weight {name} of shape {tuple(weight.shape)}")
        total += weight.numel()
        changed += int((weight != other).sum())
        changed_nf4 += int((nf4_roundtrip(weight) != nf4_roundtrip(other)).sum())
    return {
        "weights": total,
        "changed_fraction": changed / total if total else None,
        "nf4_changed_fraction": changed_nf4 / total if total else None,
    }


def _code_change_of(ctx: AttackContext, original: str) -> dict:
    load = [load_eval_model(local_model_dir(m), "bfloat16", "cpu") for m in (ctx.model, original)]
    return {"original_model": original, **code_change(*load)}


def attack(ctx: AttackContext) -> AttackRecord:
    settings = quant_settings(ctx.options)
    folder = local_model_dir(ctx.model)
    model = load_quantized(folder, settings, ctx.settings.resolved_dtype(), ctx.settings.resolved_device())
    summary = ctx.benchmark.evaluate_in_memory(model, load_tokenizer(str(folder), "model"), ctx.settings)
    after = knowledge_values(ctx.benchmark, summary)
    metrics = {m.key: quantize_entry(m, ctx.before.get(m.key), after[m.key]) for m in ctx.benchmark.knowledge_metrics}
    extra: dict = {}
    utility = ctx.benchmark.utility_metric
    if utility:
        extra["utility"] = {"before": ctx.before.get(utility), "after": after[utility]}
    original = ctx.options.get("original_model")
    if original:
        extra["code_change"] = _code_change_of(ctx, original)
    recorded = {**settings, "library": "bitsandbytes", "versions": library_versions(), "seed": ctx.seed}
    return AttackRecord(settings=recorded, metrics=metrics, extra=extra)


def notes(extra: dict) -> list[str]:
    """How much of the model the 4-bit copy can tell from the original: few changed NF4 codes make Q near 1
    uninformative."""
    change = extra.get("code_change")
    if not change or change.get("changed_fraction") is None:
        return ["quantize: no NF4 code diagnostic (it needs --original-model, the model unlearning started from)"]
    return [
        f"quantize: unlearning changed {change['changed_fraction']:.1%} of the quantized weights and "
        f"{change['nf4_changed_fraction']:.1%} of their NF4 codes (against {change['original_model']}); "
        "where few codes changed, the 4-bit copy is the original again and Q near 1 says little"
    ]


attack.check_options = quant_settings
attack.notes = notes
