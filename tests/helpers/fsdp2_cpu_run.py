"""`recipes/run.py` with FSDP2 allowed on CPU, for the sharded-training tests.

accelerate turns FSDP on only for accelerator devices: on CPU it quietly runs plain multi-process data parallel
even under an FSDP config. This driver flips that one decision after accelerate has made it (in both shared
states, which later calls re-sync); everything else is the shipped config, accelerate's FSDP2 preparation and
saving, and torch's `fully_shard` over gloo.
"""

import sys

import accelerate.state as state

_init = state.AcceleratorState.__init__


def _init_allowing_fsdp_on_cpu(self, *args, fsdp_plugin=None, **kwargs):
    _init(self, *args, fsdp_plugin=fsdp_plugin, **kwargs)
    if fsdp_plugin is not None and self.distributed_type == state.DistributedType.MULTI_CPU:
        self.distributed_type = state.DistributedType.FSDP
        self.fsdp_plugin = fsdp_plugin
        state.PartialState._shared_state["distributed_type"] = state.DistributedType.FSDP


state.AcceleratorState.__init__ = _init_allowing_fsdp_on_cpu

if __name__ == "__main__":
    from hf_unlearn.cli import main

    sys.exit(main(["train", *sys.argv[1:]]))
