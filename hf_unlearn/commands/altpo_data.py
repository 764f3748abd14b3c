"""`hf-unlearn altpo-data MODEL --forget-split forget10 --out FILE`: AltPO's alternate answers, generated once."""

from __future__ import annotations

import argparse

from hf_unlearn.data.altpo_protocols import DEFAULT_PROTOCOL, PROTOCOLS
from hf_unlearn.errors import UserError, file_system_errors

EPILOG = """\
example:
  hf-unlearn altpo-data open-unlearning/tofu_Llama-3.2-1B-Instruct_full --forget-split forget10 \\
      --out data/altpo/forget10_alt5_seed0.json
then set `alternates: data/altpo/forget10_alt5_seed0.json` in an AltPO recipe.

protocols:
""" + "\n".join(f"  {p.name}: {p.description}" for p in PROTOCOLS.values())


def add_parser(sub) -> None:
    p = sub.add_parser(
        "altpo-data",
        help="generate AltPO's alternate answers to the forget questions with the target model",
        description=(
            "Ask MODEL (the model to unlearn) for several made-up alternate answers to each forget question, with "
            "seeded sampling, and write them with their settings (the protocol among them) to FILE. An existing "
            "FILE made with the same settings is reused."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", help="Hub id or local folder of the target model ('tiny': the tiny model)")
    p.add_argument("--forget-split", default="forget10", help="default: %(default)s")
    p.add_argument("--out", required=True, help="the alternates file to write (JSON)")
    p.add_argument("--samples", type=int, default=5, help="alternates per question (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default: %(default)s)")
    p.add_argument("--temperature", type=float, default=1.0, help="0: greedy (default: %(default)s)")
    p.add_argument("--max-new-tokens", type=int, default=200, help="default: %(default)s")
    p.add_argument(
        "--protocol",
        default=DEFAULT_PROTOCOL,
        choices=list(PROTOCOLS),
        help="how the alternates are asked for (default: %(default)s; see below)",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="questions (open-unlearning) or prompts (hf-unlearn) per generation batch (default: the protocol's, "
        + ", ".join(f"{p.batch_size} for {p.name}" for p in PROTOCOLS.values())
        + ")",
    )
    p.add_argument(
        "--data-source",
        default="auto",
        help="where TOFU comes from: auto (the Hub, else the bundled copy), hub, bundled or a folder "
        "(default: %(default)s)",
    )
    p.add_argument("--limit", type=int, default=None, help="only the first N forget questions (quick checks)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, overrides: list[str]) -> int:
    from hf_unlearn.altpo import generate_alternates_file

    if min(args.samples, args.max_new_tokens, 1 if args.batch_size is None else args.batch_size) < 1:
        raise UserError("--samples, --max-new-tokens and --batch-size must be at least 1")
    with file_system_errors(args.out):
        path, reused = generate_alternates_file(
            args.model,
            args.out,
            forget_split=args.forget_split,
            samples=args.samples,
            seed=args.seed,
            temperature=args.temperature,
            max_new_tokens=args.max_new_tokens,
            batch_size=args.batch_size,
            data_source=args.data_source,
            limit=args.limit,
            protocol=args.protocol,
        )
    print(f"{'reused' if reused else 'wrote'} {path}")
    return 0
