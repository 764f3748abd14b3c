"""The logit lens: is the forget answer still decodable from the middle layers, only suppressed at the top?

Teacher-force each forget prompt with its gold answer. For every layer l = 1..L, the residual stream after block l
goes through the model's own final norm and LM head, and the answer tokens' mean log-prob is read (the tokens the
answer probability scores). At l = L this is the ordinary forward, which the tests check.

transformers detail: `output_hidden_states` gives L + 1 tensors, the embeddings first, and its last entry is already
after the final norm. Blocks 1..L-1 are read from it; block L's raw output is taken from the final norm's input by
a hook, so every layer passes through the norm exactly once.

With the full (pre-unlearning) and the retain model beside the unlearned one, the erasure score (UDS-style) says how
much of the knowledge the retain model lacks at each layer the unlearned model lacks too: 1 erased like retain,
0 intact.
"""

from __future__ import annotations

from pathlib import Path

from hf_unlearn.errors import UserError
from hf_unlearn.models import load_eval_model, load_tokenizer, local_model_dir
from hf_unlearn.robustness.context import AttackContext, AttackRecord

#: Layers where the retain model trails the full model by at most this many nats carry no knowledge gap to erase.
GAP_TAU = 0.05
PLOT_FILE = "logit_lens.png"
#: Attribute names of the final norm in transformers' decoder stacks (Llama, Mistral, Qwen: norm; GPT-2: ln_f).
_NORM_NAMES = ("norm", "final_layernorm", "ln_f", "final_layer_norm")


def erasure_score(
    unlearned: list[float], full: list[float], retain: list[float], tau: float = GAP_TAU
) -> dict[str, object]:
    """UDS-style erasure from per-layer answer log-probs: on the layers where retain trails full by more than
    `tau` (gap_ret = full - retain), erasure = clip(gap_unl / gap_ret, 0, 1) with gap_unl = full - unlearned; the
    score is their gap_ret-weighted mean. None when no layer has such a gap (nothing to erase)."""
    layers, weights, erasures = [], [], []
    for layer, (u, f, r) in enumerate(zip(unlearned, full, retain, strict=True), start=1):
        gap_ret = f - r
        if gap_ret > tau:
            layers.append(layer)
            weights.append(gap_ret)
            erasures.append(min(max((f - u) / gap_ret, 0.0), 1.0))
    score = sum(w * e for w, e in zip(weights, erasures, strict=True)) / sum(weights) if layers else None
    return {"score": score, "layers": layers, "erasure": erasures, "tau": tau}


def encode_pairs(tokenizer, pairs: list[tuple[str, str]]) -> list[tuple[list[int], list[int]]]:
    """(prompt ids, answer ids), each text tokenised alone without added special tokens: the texts already hold
    the chat template's tokens, and the boundary stays where the evaluation puts it."""
    out = []
    for prompt, answer in pairs:
        p = list(tokenizer(prompt, add_special_tokens=False)["input_ids"])
        a = list(tokenizer(answer, add_special_tokens=False)["input_ids"])
        if not p or not a:
            raise UserError("logit_lens: an empty prompt or answer in the benchmark's answer pairs")
        out.append((p, a))
    return out


def final_norm(model):
    """The norm the model applies before its LM head."""
    decoder = model.get_decoder() if hasattr(model, "get_decoder") else model
    for name in _NORM_NAMES:
        norm = getattr(decoder, name, None)
        if norm is not None:
            return norm
    raise UserError(f"logit_lens: {type(model).__name__} has no final norm named {', '.join(_NORM_NAMES)}")


def layer_logprobs(model, encoded: list[tuple[list[int], list[int]]], batch_size: int = 8):
    """[L, n_items] tensor: per layer, each item's mean log-prob of its answer tokens."""
    import torch

    norm, head = final_norm(model), model.get_output_embeddings()
    device = next(model.parameters()).device
    captured: dict = {}
    hook = norm.register_forward_pre_hook(lambda _module, args: captured.__setitem__("last", args[0]))
    columns = []
    try:
        with torch.inference_mode():
            for start in range(0, len(encoded), batch_size):
                columns.append(_batch(model, encoded[start : start + batch_size], norm, head, captured, device))
    finally:
        hook.remove()
    return torch.cat(columns, dim=1)


def _batch(model, batch, norm, head, captured: dict, device):
    import torch

    seqs = [p + a for p, a in batch]
    width = max(len(s) for s in seqs)
    ids = torch.zeros((len(seqs), width), dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    rows, cols, targets, owner = [], [], [], []
    for b, ((prompt, answer), seq) in enumerate(zip(batch, seqs, strict=True)):
        ids[b, : len(seq)] = torch.tensor(seq)
        mask[b, : len(seq)] = 1
        for j, token in enumerate(answer):  # the position before each answer token predicts it
            rows.append(b)
            cols.append(len(prompt) + j - 1)
            targets.append(token)
            owner.append(b)
    out = model(input_ids=ids.to(device), attention_mask=mask.to(device), output_hidden_states=True, use_cache=False)
    residuals = list(out.hidden_states[1:-1]) + [captured.pop("last")]
    rows_t, cols_t = torch.tensor(rows, device=device), torch.tensor(cols, device=device)
    targets_t = torch.tensor(targets, device=device)
    owner_t = torch.tensor(owner, device=device)
    counts = torch.bincount(owner_t, minlength=len(batch)).double()
    per_layer = []
    for hidden in residuals:
        logits = head(norm(hidden[rows_t, cols_t])).float()
        logprob = torch.log_softmax(logits, dim=-1).gather(-1, targets_t[:, None]).squeeze(-1).double()
        sums = torch.zeros(len(batch), dtype=torch.float64, device=device).index_add_(0, owner_t, logprob)
        per_layer.append(sums / counts)
    return torch.stack(per_layer).cpu()


def curves(values) -> dict:
    """Per layer, over items: the mean answer log-prob, and the mean answer probability exp(mean log-prob) (how the
    benchmark's answer probability averages, so the last layer matches it)."""
    return {
        "mean_logprob": [float(v) for v in values.mean(dim=1)],
        "mean_prob": [float(v) for v in values.exp().mean(dim=1)],
        "items": int(values.shape[1]),
    }


def write_lens_plot(per_model: dict[str, list[float]], path: str | Path, title: str = "") -> str | None:
    """Per-layer answer log-prob of each model; returns why no plot was written, or None."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=True)
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError as err:
        return f"matplotlib could not be imported ({err}); install hf-unlearn[plot]"
    fig = Figure(figsize=(6.4, 3.6), dpi=100)
    ax = fig.add_subplot()
    for name, values in per_model.items():
        ax.plot(range(1, len(values) + 1), values, marker="o", markersize=3, label=name)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("layer (residual stream after the block, through the final norm and head)")
    ax.set_ylabel("mean log-prob of the forget answers")
    if title:
        ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(str(path), format="png")
    return None


def _dtype_device(settings) -> tuple[str, str]:
    """The evaluation's dtype and device, so the lens reads the model as the evaluation does (fp32 on CPU when
    the benchmark's settings don't say)."""
    dtype = settings.resolved_dtype() if hasattr(settings, "resolved_dtype") else "float32"
    device = settings.resolved_device() if hasattr(settings, "resolved_device") else "cpu"
    return dtype, device


def _model_curves(name: str, ctx: AttackContext, batch_size: int) -> dict:
    """One model's lens curves, read with its own tokenizer (or the evaluation's `tokenizer` setting)."""
    folder = local_model_dir(name)
    tokenizer_name = getattr(ctx.settings, "tokenizer", None)
    tokenizer = load_tokenizer(tokenizer_name or str(folder), "tokenizer" if tokenizer_name else "model")
    model = load_eval_model(folder, *_dtype_device(ctx.settings))
    encoded = encode_pairs(tokenizer, ctx.benchmark.answer_pairs(ctx.settings, tokenizer))
    return curves(layer_logprobs(model, encoded, batch_size))


def logit_lens(ctx: AttackContext) -> AttackRecord:
    """Per-layer forget-answer log-probs of the unlearned model and, when given, the retain model
    (`ctx.retain_model`) and the full model (option `full_model`); the erasure score when full and retain are both
    there; the plot. Options: `full_model`, `batch_size` (8), `tau` (the erasure score's gap threshold)."""
    batch_size = int(ctx.options.get("batch_size", 8))
    tau = float(ctx.options.get("tau", GAP_TAU))
    models = {"unlearned": ctx.model, "retain": ctx.retain_model, "full": ctx.options.get("full_model")}
    models = {role: name for role, name in models.items() if name}
    found = {role: _model_curves(name, ctx, batch_size) for role, name in models.items()}
    logprobs = {role: c["mean_logprob"] for role, c in found.items()}
    extra: dict = {
        "layers": list(range(1, len(logprobs["unlearned"]) + 1)),
        "mean_logprob": logprobs,
        "mean_prob": {role: c["mean_prob"] for role, c in found.items()},
        "erasure": None,
    }
    if "full" in found and "retain" in found:
        extra["erasure"] = erasure_score(logprobs["unlearned"], logprobs["full"], logprobs["retain"], tau)
    ctx.output_dir.mkdir(parents=True, exist_ok=True)
    missing = write_lens_plot(logprobs, ctx.output_dir / PLOT_FILE, title=f"logit lens: {ctx.model}")
    extra["plot"] = PLOT_FILE if missing is None else None
    if missing:
        extra["plot_missing"] = missing
    settings = {
        "models": models,
        "decoder": "each model's own final norm and LM head",
        "tau": tau,
        "items": found["unlearned"]["items"],
        "dtype": _dtype_device(ctx.settings)[0],
    }
    return AttackRecord(settings=settings, metrics={}, extra=extra)


def notes(extra: dict) -> list[str]:
    """The erasure score, or why there is none."""
    erasure = extra.get("erasure")
    if erasure is None:
        return ["logit_lens: no erasure score (it needs the retain model and logit_lens.full_model)"]
    if erasure["score"] is None:
        return [f"logit_lens: no erasure score: retain trails full by more than {erasure['tau']} nats on no layer"]
    return [
        f"logit_lens: erasure score {erasure['score']:.4f} over the {len(erasure['layers'])} layers where retain "
        f"trails full by more than {erasure['tau']} nats (1: erased like the retain model, 0: intact)"
    ]


logit_lens.notes = notes
