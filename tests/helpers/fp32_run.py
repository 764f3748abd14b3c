"""`python tests/helpers/fp32_run.py SCRIPT ARGS...`: run a launch script (e.g. `recipes/run.py`) keeping the fp32 weights
the run saves before their BF16 conversion (`distributed_helpers.keep_fp32_weights`), for exact comparisons."""

import runpy
import sys

from helpers.distributed import keep_fp32_weights

if __name__ == "__main__":
    script, sys.argv = sys.argv[1], sys.argv[1:]
    with keep_fp32_weights():
        runpy.run_path(script, run_name="__main__")
