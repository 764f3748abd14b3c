"""`hf-unlearn sweep GRID --run`: train every grid point, skipping finished ones and resuming interrupted ones, then
write the leaderboard.

Each point runs as its own process (`hf-unlearn train RECIPE [--resume]`, under `accelerate launch` when an accelerate
config is given), its output in a log file. The `local` launcher runs them here, one after another or N at a time
(one GPU each); the `slurm` launcher submits one job per point through submitit, whose local executor
(`submitit-local`) runs the same submission path on this machine. A point is finished when its run folder's
run_info.json says so, interrupted when the folder holds a checkpoint (then `--resume` continues it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from hf_unlearn.errors import UserError
from hf_unlearn.layout import CHECKPOINT_PREFIX, RUN_INFO
from hf_unlearn.leaderboard import LeaderboardError, collect, sort_entries, to_csv, to_markdown
from hf_unlearn.recipe import load_recipe

LAUNCHERS = ("local", "slurm", "submitit-local")
POLL_S = 0.5


@dataclass
class Point:
    name: str
    recipe: Path
    run_dir: Path
    log: Path
    state: str = "pending"  # pending | running | done | failed
    resume: bool = False


@dataclass
class SlurmOptions:
    partition: str | None = None
    gpus_per_job: int = 1
    time_min: int = 240
    accelerate_config: str | None = None


def is_finished(run_dir: Path) -> bool:
    try:
        return bool(json.loads((run_dir / RUN_INFO).read_text()).get("finished"))
    except (OSError, ValueError):
        return False


def plan(recipe_paths: list[Path], log_dir: Path) -> list[Point]:
    """Every recipe as a point: done when finished, to resume when it left a checkpoint, else to start."""
    points = []
    for path in recipe_paths:
        recipe = load_recipe(path)
        run_dir = Path(recipe.output_dir)
        point = Point(recipe.run_name, path, run_dir, log_dir / f"{recipe.run_name}.log")
        if is_finished(run_dir):
            point.state = "done"
        else:
            point.resume = run_dir.is_dir() and any(run_dir.glob(f"{CHECKPOINT_PREFIX}*"))
        points.append(point)
    return points


def command(point: Point, accelerate_config: str | None = None) -> list[str]:
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", accelerate_config, "-m"]
    head = launcher if accelerate_config else [sys.executable, "-m"]
    return [*head, "hf_unlearn.cli", "train", str(point.recipe), *(["--resume"] if point.resume else [])]


def run_command(cmd: list[str], log: str, env: dict | None = None) -> int:
    """Run one point, its output appended to `log`; the exit status. Module-level: submitit pickles it as the job."""
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a", encoding="utf-8") as out:
        out.write(f"$ {' '.join(cmd)}\n")
        out.flush()
        return subprocess.call(cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})


class Progress:
    """Prints where the sweep stands whenever a point changes state: counts, failures with their logs, the
    leaderboard's top rows."""

    def __init__(self, points: list[Point], leaderboard_dir: Path, top: int = 5) -> None:
        self.points = points
        self.leaderboard_dir = leaderboard_dir
        self.top = top

    def line(self) -> str:
        count = {s: sum(p.state == s for p in self.points) for s in ("done", "running", "failed", "pending")}
        return (
            f"[sweep] {count['done']}/{len(self.points)} done, {count['running']} running, "
            f"{count['failed']} failed, {count['pending']} waiting"
        )

    def show(self) -> None:
        print(self.line(), flush=True)
        for p in self.points:
            if p.state == "failed":
                print(f"[sweep]   failed: {p.name} (log: {p.log})", flush=True)
        table = self.leaderboard()
        if table:
            print("\n".join(table.splitlines()[: self.top + 2]), flush=True)

    def leaderboard(self) -> str | None:
        """The leaderboard of the finished points (written to leaderboard_dir); None before any finished one has
        results."""
        done = [p.run_dir for p in self.points if p.state == "done"]
        if not done:
            return None
        try:
            entries = sort_entries(collect(done, load_recipe(self.points[0].recipe)["benchmark"]))
        except LeaderboardError:
            return None
        if not entries:
            return None
        markdown = to_markdown(entries, "forget_quality")
        self.leaderboard_dir.mkdir(parents=True, exist_ok=True)
        (self.leaderboard_dir / "leaderboard.md").write_text(markdown, encoding="utf-8")
        (self.leaderboard_dir / "leaderboard.csv").write_text(to_csv(entries), encoding="utf-8")
        return markdown


def _gpu_env(slot: int, max_parallel: int) -> dict:
    """With several points at once on a GPU machine, each gets one GPU."""
    if max_parallel <= 1 or not os.environ.get("CUDA_VISIBLE_DEVICES", "x") or _gpu_count() < max_parallel:
        return {}
    return {"CUDA_VISIBLE_DEVICES": str(slot)}


def _gpu_count() -> int:
    import torch

    return torch.cuda.device_count()


def _settle(point: Point, rc: int, progress: Progress) -> None:
    point.state = "done" if rc == 0 and is_finished(point.run_dir) else "failed"
    progress.show()


def run_local(points: list[Point], progress: Progress, max_parallel: int = 1, accelerate_config=None) -> None:
    """One after another, or `max_parallel` at a time (one GPU each when there are that many)."""
    waiting = [p for p in points if p.state == "pending"]
    running: dict[int, tuple[Point, subprocess.Popen, object]] = {}
    while waiting or running:
        free = [s for s in range(max_parallel) if s not in running]
        while waiting and free:
            point, slot = waiting.pop(0), free.pop(0)
            point.log.parent.mkdir(parents=True, exist_ok=True)
            cmd = command(point, accelerate_config)
            out = open(point.log, "a", encoding="utf-8")  # noqa: SIM115 (closed when the process ends)
            out.write(f"$ {' '.join(cmd)}\n")
            out.flush()
            env = {**os.environ, **_gpu_env(slot, max_parallel)}
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
            point.state = "running"
            running[slot] = (point, proc, out)
            progress.show()
        time.sleep(POLL_S if running else 0)
        for slot, (point, proc, out) in list(running.items()):
            if proc.poll() is not None:
                out.close()
                del running[slot]
                _settle(point, proc.returncode, progress)


def run_submitit(points: list[Point], progress: Progress, options: SlurmOptions, cluster: str, log_dir: Path) -> None:
    """One job per point through submitit; results are collected as jobs finish."""
    try:
        import submitit
    except ImportError:
        raise UserError("--launcher slurm: needs submitit (pip install 'hf-unlearn[slurm]')") from None
    executor = submitit.AutoExecutor(folder=str(log_dir / "submitit"), cluster=cluster)
    params = {"timeout_min": options.time_min, "gpus_per_node": options.gpus_per_job, "nodes": 1, "tasks_per_node": 1}
    if cluster == "slurm" and options.partition:
        params["slurm_partition"] = options.partition
    executor.update_parameters(**params)
    jobs = {}
    for point in points:
        if point.state != "pending":
            continue
        executor.update_parameters(name=point.name)
        jobs[point.name] = (
            point,
            executor.submit(run_command, command(point, options.accelerate_config), str(point.log)),
        )
        point.state = "running"
    progress.show()
    while jobs:
        time.sleep(POLL_S)
        for name, (point, job) in list(jobs.items()):
            if job.done():
                del jobs[name]
                try:
                    rc = job.result()
                except Exception as err:  # a job that died (time limit, node failure): its point failed
                    point.log.parent.mkdir(parents=True, exist_ok=True)
                    with open(point.log, "a", encoding="utf-8") as out:
                        out.write(f"[sweep] job failed: {err}\n")
                    rc = 1
                _settle(point, rc, progress)


def run_sweep(
    recipe_paths: list[Path],
    log_dir: Path,
    leaderboard_dir: Path,
    launcher: str = "local",
    max_parallel: int = 1,
    options: SlurmOptions | None = None,
) -> list[Point]:
    """Run every unfinished point, then write the leaderboard of the finished ones."""
    options = options or SlurmOptions()
    points = plan(recipe_paths, log_dir)
    progress = Progress(points, leaderboard_dir)
    todo = [p for p in points if p.state == "pending"]
    resumed = sum(p.resume for p in todo)
    print(f"[sweep] {len(points)} points: {len(points) - len(todo)} finished, {len(todo)} to run ({resumed} resumed)")
    if todo:
        if launcher == "local":
            run_local(points, progress, max_parallel, options.accelerate_config)
        else:
            run_submitit(points, progress, options, "slurm" if launcher == "slurm" else "local", log_dir)
    else:
        progress.show()
    return points
