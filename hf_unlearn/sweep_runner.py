"""`hf-unlearn sweep GRID --run`: train every grid point, skipping finished ones and resuming interrupted ones, then
write the leaderboard.

Each point runs as its own process (`hf-unlearn train RECIPE [--resume | --overwrite]`, under `accelerate launch` when
an accelerate config is given), its output in a log file. The `local` launcher runs them here, one after another or
N at a time (one GPU each); the `slurm` launcher submits one job per point through submitit, whose local executor
(`submitit-local`) runs the same submission path on this machine.

A point is done when its run folder holds a finished run of exactly its recipe (`finished_run`: every resolved key,
not only the named ones); a finished run of another recipe stops the sweep before anything runs, unless `overwrite`.
A point is interrupted when its folder holds a checkpoint (then `--resume` continues it). A point whose `model` is
another point's run folder (a `chain: true` grid) starts only once that point is done, whatever the launcher or the
number of points at once, and fails unrun when that point fails; a finished chained point is stale when the point
it starts from runs again.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from hf_unlearn.errors import UserError
from hf_unlearn.finished_run import differences, is_finished, normal_path, stale_message
from hf_unlearn.layout import CHECKPOINT_PREFIX
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
    state: str = "pending"  # pending | stale | running | done | failed
    resume: bool = False
    overwrite: bool = False
    #: the point whose run folder is this point's model (a chain): this one starts when that one is done
    after: Point | None = None
    #: why the point is stale, or why it failed without running
    note: str = ""


@dataclass
class SlurmOptions:
    partition: str | None = None
    gpus_per_job: int = 1
    time_min: int = 240
    accelerate_config: str | None = None


def check_launcher(launcher: str) -> None:
    """Fail before anything is written or submitted when the launcher cannot work on this machine."""
    if launcher == "slurm" and not (shutil.which("sbatch") and shutil.which("srun")):
        raise UserError(
            "--launcher slurm: Slurm was not found on this machine (no sbatch/srun on PATH); run the points here "
            "with --launcher local (--max-parallel N for N at once), or try the Slurm path with --launcher "
            "submitit-local"
        )


def plan(recipe_paths: list[Path], log_dir: Path) -> list[Point]:
    """Every recipe as a point: done when its folder holds a finished run of its recipe, stale when it holds one
    of another recipe (or its chain predecessor runs again), to resume when it left a checkpoint, else to start."""
    points: list[Point] = []
    by_folder: dict[str, Point] = {}
    for path in recipe_paths:
        recipe = load_recipe(path)
        run_dir = Path(recipe.output_dir)
        point = Point(recipe.run_name, path, run_dir, log_dir / f"{recipe.run_name}.log")
        point.after = by_folder.get(normal_path(recipe["model"]))
        if is_finished(run_dir):
            found = differences(recipe, run_dir)
            point.state, point.note = ("stale", stale_message(run_dir, found)) if found else ("done", "")
            if point.state == "done" and point.after is not None and point.after.state != "done":
                point.state = "stale"
                point.note = f"{run_dir} started from {point.after.name}'s model, which is trained again"
        else:
            point.resume = run_dir.is_dir() and any(run_dir.glob(f"{CHECKPOINT_PREFIX}*"))
        by_folder[normal_path(str(run_dir))] = point
        points.append(point)
    return points


def command(point: Point, accelerate_config: str | None = None) -> list[str]:
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", accelerate_config, "-m"]
    head = launcher if accelerate_config else [sys.executable, "-m"]
    flags = ["--resume"] if point.resume else ["--overwrite"] if point.overwrite else []
    return [*head, "hf_unlearn.cli", "train", str(point.recipe), *flags]


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

    def show(self, event: str = "") -> None:
        """`event` (what just changed: a point started, ended) first, then the counts, failures and top rows."""
        if event:
            print(f"[sweep] {event}", flush=True)
        print(self.line(), flush=True)
        for p in self.points:
            if p.state == "failed":
                print(f"[sweep]   failed: {p.name} ({p.note or f'log: {p.log}'})", flush=True)
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
    progress.show(f"{point.state}: {point.name}")


class _Process:
    """A point running here: its process and its open log."""

    def __init__(self, cmd: list[str], log: Path, env: dict) -> None:
        log.parent.mkdir(parents=True, exist_ok=True)
        self.out = open(log, "a", encoding="utf-8")  # noqa: SIM115 (closed when the process ends)
        self.out.write(f"$ {' '.join(cmd)}\n")
        self.out.flush()
        self.proc = subprocess.Popen(cmd, stdout=self.out, stderr=subprocess.STDOUT, env={**os.environ, **env})

    def poll(self) -> int | None:
        rc = self.proc.poll()
        if rc is not None:
            self.out.close()
        return rc


class _Job:
    """A point submitted through submitit."""

    def __init__(self, job, log: Path) -> None:
        self.job, self.log = job, log

    def poll(self) -> int | None:
        if not self.job.done():
            return None
        try:
            return self.job.result()
        except Exception as err:  # a job that died (time limit, node failure): its point failed
            self.log.parent.mkdir(parents=True, exist_ok=True)
            with open(self.log, "a", encoding="utf-8") as out:
                out.write(f"[sweep] job failed: {err}\n")
            return 1


def schedule(points: list[Point], progress: Progress, slots: int, start) -> None:
    """Start pending points as slots free up, a chained point only once the point it starts from is done (one whose
    predecessor failed fails unrun); `start(point, slot)` returns a handle whose `poll()` is the exit status once the
    point has ended, else None."""
    running: dict[int, tuple[Point, object]] = {}
    while True:
        for point in points:
            if point.state == "pending" and point.after is not None and point.after.state == "failed":
                point.state, point.note = "failed", f"not run: it starts from {point.after.name}, which failed"
                progress.show(f"failed: {point.name}")
        ready = [p for p in points if p.state == "pending" and (p.after is None or p.after.state == "done")]
        for point, slot in zip(ready, [s for s in range(slots) if s not in running], strict=False):
            running[slot] = (point, start(point, slot))
            point.state = "running"
            progress.show(f"started: {point.name} (log: {point.log})")
        if not running:
            return
        time.sleep(POLL_S)
        for slot, (point, handle) in list(running.items()):
            rc = handle.poll()
            if rc is not None:
                del running[slot]
                _settle(point, rc, progress)


def run_local(points: list[Point], progress: Progress, max_parallel: int = 1, accelerate_config=None) -> None:
    """One after another, or `max_parallel` at a time (one GPU each when there are that many)."""

    def start(point: Point, slot: int) -> _Process:
        return _Process(command(point, accelerate_config), point.log, _gpu_env(slot, max_parallel))

    schedule(points, progress, max_parallel, start)


def run_submitit(points: list[Point], progress: Progress, options: SlurmOptions, cluster: str, log_dir: Path) -> None:
    """One job per point through submitit, each submitted once it can start (a chained point after the job of the
    point it starts from has succeeded); results are collected as jobs finish."""
    try:
        import submitit
    except ImportError:
        raise UserError("--launcher slurm: needs submitit (pip install 'hf-unlearn[slurm]')") from None
    executor = submitit.AutoExecutor(folder=str(log_dir / "submitit"), cluster=cluster)
    params = {"timeout_min": options.time_min, "gpus_per_node": options.gpus_per_job, "nodes": 1, "tasks_per_node": 1}
    if cluster == "slurm" and options.partition:
        params["slurm_partition"] = options.partition
    executor.update_parameters(**params)

    def start(point: Point, slot: int) -> _Job:
        executor.update_parameters(name=point.name)
        return _Job(executor.submit(run_command, command(point, options.accelerate_config), str(point.log)), point.log)

    schedule(points, progress, len(points), start)


def run_sweep(
    recipe_paths: list[Path],
    log_dir: Path,
    leaderboard_dir: Path,
    launcher: str = "local",
    max_parallel: int = 1,
    options: SlurmOptions | None = None,
    overwrite: bool = False,
) -> list[Point]:
    """Run every point not done, then write the leaderboard of the finished ones. A point whose folder holds a
    finished run of another recipe stops the sweep before anything runs, unless `overwrite` (then that folder is
    emptied and the point rerun there)."""
    options = options or SlurmOptions()
    check_launcher(launcher)
    points = plan(recipe_paths, log_dir)
    stale = [p for p in points if p.state == "stale"]
    for point in stale:
        print(f"[sweep] {point.name}: {point.note}{'; rerunning it there (--overwrite)' if overwrite else ''}")
    if stale and not overwrite:
        raise UserError(
            f"{len(stale)} point(s) would train over a finished run (listed above): pass --overwrite to delete those "
            "folders and rerun the points there, or move those folders away first"
        )
    for point in stale:
        point.state, point.overwrite = "pending", True
    progress = Progress(points, leaderboard_dir)
    todo = [p for p in points if p.state == "pending"]
    resumed = sum(p.resume for p in todo)
    replaced = f", {len(stale)} replacing a finished run" if stale else ""
    print(
        f"[sweep] {len(points)} points: {len(points) - len(todo)} finished, {len(todo)} to run "
        f"({resumed} resumed{replaced})"
    )
    if todo:
        if launcher == "local":
            run_local(points, progress, max_parallel, options.accelerate_config)
        else:
            run_submitit(points, progress, options, "slurm" if launcher == "slurm" else "local", log_dir)
    else:
        progress.show()
    return points
