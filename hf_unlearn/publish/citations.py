"""BibTeX for the card: the benchmark, the framework whose conventions the runs follow, and each method's paper."""

from __future__ import annotations

from hf_unlearn.benchmarks import Benchmark
from hf_unlearn.methods import METHODS, SAM_PAPER

OPEN_UNLEARNING = """@article{dorna2025openunlearning,
  title   = {{OpenUnlearning}: Accelerating {LLM} Unlearning via Unified Benchmarking of Methods and Metrics},
  author  = {Dorna, Vineeth and Mekala, Anmol and Zhao, Wenlong and McCallum, Andrew and Lipton, Zachary C. and
             Kolter, J. Zico and Maini, Pratyush},
  journal = {arXiv preprint arXiv:2506.12618},
  year    = {2025}
}"""


def citations_for(benchmark: Benchmark, method: str | None, sam: bool = False) -> list[str]:
    """The benchmark, OpenUnlearning, then the method's paper as its spec declares it, and the sharpness-aware
    unlearning paper for a run with `sam_rho` (each entry once)."""
    out = [benchmark.citation, OPEN_UNLEARNING]
    spec = METHODS.get(method or "")
    if spec is not None and spec.citation not in out:
        out.append(spec.citation)
    if sam:
        out.append(SAM_PAPER.bibtex)
    return out
