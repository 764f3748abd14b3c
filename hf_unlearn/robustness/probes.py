"""Re-prompting probes: the forget metrics re-measured with the questions paraphrased, or with the answer pre-filled
by a jailbreak prefix, plus the logit lens. The weights are untouched, so a metric that rises under a probe shows
knowledge the plain prompts hid.

The benchmark says what a probe changes (`probe_settings`); the probe evaluates the unlearned model, and the retain
model when there is one (the control: it loses too when a paraphrase is merely harder), into its working folder,
and compares with the un-attacked summaries the suite measured once.
"""

from __future__ import annotations

from dataclasses import asdict, is_dataclass

from hf_unlearn.layout import RETAIN_SUBDIR
from hf_unlearn.robustness.context import Attack, AttackContext, AttackRecord
from hf_unlearn.robustness.logit_lens import logit_lens


def describe(settings) -> dict:
    """The probe's evaluation settings for the record (everything that decides the numbers)."""
    if is_dataclass(settings):
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(settings).items()}
    return dict(vars(settings))


def compare(ctx: AttackContext, after: dict, control_after: dict | None) -> dict[str, dict[str, float | None]]:
    """Before/after (and the control's) for every knowledge metric the probe measured."""
    out = {}
    for metric in ctx.benchmark.knowledge_metrics:
        if metric.key not in after:
            continue
        entry = {"before": ctx.before.get(metric.key), "after": after[metric.key]}
        if control_after is not None:
            entry["control_before"] = (ctx.control_before or {}).get(metric.key)
            entry["control_after"] = control_after.get(metric.key)
        out[metric.key] = entry
    return out


def probe(name: str) -> Attack:
    """The attack that re-measures the knowledge metrics under the benchmark's probe `name`."""

    def attack(ctx: AttackContext) -> AttackRecord:
        settings = ctx.benchmark.probe_settings(ctx.settings, name)
        result = ctx.benchmark.evaluate(ctx.model, ctx.output_dir, settings, progress=ctx.progress, echo=False)
        extra = {"fingerprint": result.meta.get("fingerprint")}
        control = None
        if ctx.retain_model:
            retain = ctx.benchmark.evaluate(
                ctx.retain_model, ctx.output_dir / RETAIN_SUBDIR, settings, progress=ctx.progress, echo=False
            )
            control = retain.summary
            extra["control_fingerprint"] = retain.meta.get("fingerprint")
        return AttackRecord(
            settings={"probe": name, "evaluation": describe(settings)},
            metrics=compare(ctx, result.summary, control),
            extra=extra,
        )

    attack.__name__ = f"probe_{name}"
    attack.__doc__ = f"The {name} probe: the forget metrics re-measured under `probe_settings(settings, '{name}')`."
    return attack


PROBES: dict[str, Attack] = {
    "paraphrase": probe("paraphrase"),
    "jailbreak": probe("jailbreak"),
    "logit_lens": logit_lens,
}
