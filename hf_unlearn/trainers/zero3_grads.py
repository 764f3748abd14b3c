"""DeepSpeed ZeRO-3's gradients and weights as a gradient store (`grad_store.ParamGrads`), for SAM and GRU.

Under ZeRO-3 each process holds a partition of every parameter (`p.ds_tensor`, from which the forward all-gathers
the full weight) and the matching partition of the step's accumulated gradient, in DeepSpeed's fp32 buffers;
`p.grad` stays empty. Every backward reduce-scatters into those partitions, adding to them after the step's first
backward. So:

- an accumulator is swapped by reading the local partitions out (`deepspeed.utils.safe_get_local_grad`) and writing
  the other one in (`safe_set_local_grad`);
- the perturbation SAM forms from these partitions is applied to the partition of the weights each process holds
  (`ds_tensor`); the small parameters DeepSpeed keeps gathered between steps ("persistent") are gathered again
  after the write so the forward sees it;
- the partitions of one process are disjoint from every other's, so sums over them (||g||, GRU's inner products)
  are completed across processes (`partitioned = True`);
- accelerate's backward steps the engine at the step's last micro-batch, which would happen at its first of
  several backwards: backwards go to the engine directly, outside the accumulation boundary, and the engine steps
  (clipping included) once the last micro-batch's gradient is final, as accelerate would.

Optimizer offload keeps the gradient in another buffer filled only at the step's end: it is refused
(`two_pass.reject_unsupported_sharding`).
"""

from __future__ import annotations

import torch

from hf_unlearn.trainers.grad_store import ParamGrads


class Zero3Grads(ParamGrads):
    partitioned = True

    def __init__(self, trainer, model) -> None:
        super().__init__(trainer, model)
        self.engine = trainer.accelerator.deepspeed_engine_wrapped.engine

    def start_step(self) -> None:
        """DeepSpeed keeps the last step's partitions in its buffers until the step's first backward overwrites
        them; an accumulator swapped out before that must read zeros."""
        self.set_grads([None] * len(self.params))

    def grads(self) -> list[torch.Tensor]:
        from deepspeed.utils import safe_get_local_grad

        return [safe_get_local_grad(p).clone() for p in self.params]  # a copy: the buffer is reused

    def set_grads(self, grads: list[torch.Tensor | None]) -> None:
        from deepspeed.utils import safe_set_local_grad

        for p, g in zip(self.params, grads, strict=True):
            safe_set_local_grad(p, torch.zeros_like(p.ds_tensor, dtype=torch.float32) if g is None else g)

    def swap(self, grads: list[torch.Tensor | None] | None) -> list[torch.Tensor]:
        held = self.grads()
        self.set_grads([None] * len(self.params) if grads is None else grads)
        return held

    @staticmethod
    def _local(param: torch.nn.Parameter) -> torch.Tensor:
        return param.ds_tensor

    @staticmethod
    def _place(saved: torch.Tensor, param: torch.nn.Parameter) -> torch.Tensor:
        return saved.to(param.ds_tensor.device)

    def weights(self) -> list[torch.Tensor]:
        return [p.ds_tensor for p in self.params]

    def weights_changed(self) -> None:
        from deepspeed.runtime.zero.partition_parameters import ZeroParamStatus

        gathered = [p for p in self.params if p.ds_status == ZeroParamStatus.AVAILABLE]
        if not gathered:
            return
        gathered[0].partition(gathered)  # drops the stale full copies; the partitions stay as written
        persistent = [p for p in gathered if getattr(p, "ds_persist", False)]
        if persistent:
            persistent[0].all_gather(persistent)

    def backward(self, loss: torch.Tensor) -> None:
        self.engine.set_gradient_accumulation_boundary(False)
        self.engine.backward(loss, scale_wrt_gas=False)  # the trainer scales for accumulation, as Trainer does

    def end_micro_batch(self) -> None:
        if self.trainer.accelerator.sync_gradients:
            self.engine.set_gradient_accumulation_boundary(True)
            self.engine.step()
