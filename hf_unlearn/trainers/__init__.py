"""Trainers: one `UnlearningTrainer` subclass per method (see `hf_unlearn.methods` for the registry)."""

from hf_unlearn.trainers.base import UnlearningTrainer
from hf_unlearn.trainers.config import GradDiffConfig, UnlearningConfig
from hf_unlearn.trainers.graddiff import GradAscentTrainer, GradDiffTrainer

__all__ = ["GradAscentTrainer", "GradDiffConfig", "GradDiffTrainer", "UnlearningConfig", "UnlearningTrainer"]
