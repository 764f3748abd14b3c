"""`hf-unlearn publish RUN_DIR [--repo-id ID] [--private] [--dry-run] [--overwrite] [--endpoint URL]`."""

from __future__ import annotations

import argparse

from hf_unlearn.errors import file_system_errors
from hf_unlearn.publish import publish_run


def add_parser(sub) -> None:
    p = sub.add_parser(
        "publish",
        help="export a finished run (BF16 weights, tokenizer, model card) and push it to the Hub in one commit",
        description="Export a finished run folder (BF16 weights, tokenizer, model card with its benchmark results) to "
        "RUN_DIR/export/ and push it to the Hub in one commit. Log in first (`hf auth login` or HF_TOKEN).",
        epilog="examples:\n"
        "  hf-unlearn publish saves/unlearn/forget10_GradDiff_lr2e-05_alpha5_epoch5 --org my-org\n"
        "  hf-unlearn publish RUN_DIR --dry-run                     # only write RUN_DIR/export/\n"
        "  hf-unlearn publish RUN_DIR --repo-id me/name --private",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run_dir", help="the run folder (the recipe's output_dir)")
    p.add_argument(
        "--repo-id", default=None, help="ORG/NAME (default: the recipe's hub_repo_id, or hub_org + run name)"
    )
    p.add_argument("--org", default=None, help="user or organisation for the default repo name (overrides hub_org)")
    p.add_argument("--private", action="store_true", default=None, help="create the repo private")
    p.add_argument("--overwrite", action="store_true", default=None, help="replace the contents of an existing repo")
    p.add_argument("--dry-run", action="store_true", help="only write the export folder and print its path")
    p.add_argument("--endpoint", default=None, help="Hub URL (default: HF_ENDPOINT or https://huggingface.co)")
    p.add_argument("--export-dir", default=None, help="where to write the export folder (default: RUN_DIR/export)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, overrides: list[str]) -> int:
    with file_system_errors(args.export_dir or args.run_dir):
        result = publish_run(
            args.run_dir,
            repo_id=args.repo_id,
            org=args.org,
            private=args.private,
            overwrite=args.overwrite,
            dry_run=args.dry_run,
            endpoint=args.endpoint,
            export_dir=args.export_dir,
        )
    if result.export.plot_note:
        print(f"[hf-unlearn] no loss plot: {result.export.plot_note}")
    if result.pushed:
        print(f"[hf-unlearn] published {result.repo_id}: {result.commit_url}")
    else:
        print(f"[hf-unlearn] export folder (not pushed): {result.export_dir}")
    return 0
