"""Pure maths on gradients held as lists of tensors (one per parameter): inner products, GRU's rectification and
running retain gradient, and the sharpness-aware perturbation. No model, no trainer: testable on hand-made vectors.

Sharded tensors (FSDP2's DTensors) hold a slice of each parameter per process; `inner` reduces a sharded sum to the
full value (`full_tensor`), so every process gets the inner product over all parameters, not over its slice.
ZeRO-3's partitions are plain tensors, each process's slice disjoint from the others': with `partitioned=True` the
local sum is all-reduced across processes instead.
"""

from __future__ import annotations

import torch


def _full(value: torch.Tensor) -> torch.Tensor:
    """A scalar summed over a sharded tensor is partial on each process; this completes it across processes."""
    return value.full_tensor() if hasattr(value, "full_tensor") else value


def inner(a: list[torch.Tensor | None], b: list[torch.Tensor | None], partitioned: bool = False) -> torch.Tensor:
    """<a, b> over all parameters, in fp64 (a missing gradient counts as zero). `partitioned`: a and b hold this
    process's disjoint slice of every parameter; the sum is completed across processes (every process calls it)."""
    device = next((x.device for x in a if x is not None), torch.device("cpu")) if partitioned else None
    total = torch.zeros((), dtype=torch.float64, device=device)
    for x, y in zip(a, b, strict=True):
        if x is None or y is None:
            continue
        total = total + _full((x.double() * y.double()).sum()).to(total.device)
    if partitioned and torch.distributed.is_initialized():
        torch.distributed.all_reduce(total)
    return total.cpu()


def rectify(
    forget: list[torch.Tensor | None], retain: list[torch.Tensor | None], partitioned: bool = False
) -> list[torch.Tensor | None]:
    """GRU's rectified gradient: its component along the retain gradient removed when the two conflict.

    With g_f the gradient to rectify and g_r a retain gradient (a step goes along -g), they conflict when
    <g_f, g_r> < 0: a step along -g_f would then raise the retain loss to first order. The rectified
    g_f' = g_f - (<g_f, g_r> / ||g_r||^2) g_r is orthogonal to g_r, so a step along it leaves the retain loss
    unchanged to first order (and g_f' + g_r has inner product ||g_r||^2 >= 0 with g_r). Without a conflict (or with
    g_r = 0), g_f is returned unchanged. `partitioned`: as for `inner`.
    """
    dot, norm2 = inner(forget, retain, partitioned), inner(retain, retain, partitioned)
    if not (dot < 0 and norm2 > 0):
        return list(forget)
    coeff = float(dot / norm2)
    return [f if f is None or r is None else f - coeff * r for f, r in zip(forget, retain, strict=True)]


def add(a: list[torch.Tensor | None], b: list[torch.Tensor | None], scale: float = 1.0) -> list[torch.Tensor | None]:
    """a + scale * b, parameter by parameter (a missing gradient counts as zero; two missing stay missing)."""
    out = []
    for x, y in zip(a, b, strict=True):
        if y is None:
            out.append(x)
        else:
            out.append(scale * y if x is None else x + scale * y)
    return out


def running_average(
    previous: list[torch.Tensor | None] | None, current: list[torch.Tensor | None], weight: float
) -> list[torch.Tensor | None]:
    """GRU's running retain gradient m_t = weight * g_t + (1 - weight) * m_{t-1}, started at m_0 = 0 (no
    bias correction), as its official code does once per optimizer step (`moving_avg`, 0.8 by default).

    m_1 = weight * g_1 points along g_1, so the first step projects off the current retain gradient; from the
    second step on, earlier steps' gradients smooth the direction. Elementwise, so a process holding a slice of
    every gradient (a ZeRO-3 partition, an FSDP2 shard) holds the same slice of the average."""
    if previous is None:
        previous = [None] * len(current)
    return add([None if m is None else (1.0 - weight) * m for m in previous], current, weight)


def gru_update(
    forget: list[torch.Tensor | None],
    direction: list[torch.Tensor | None],
    average: list[torch.Tensor | None] | None,
    moving_avg: float,
    term: list[torch.Tensor | None] | None = None,
    place: str | None = None,
    partitioned: bool = False,
) -> tuple[list[torch.Tensor | None], list[torch.Tensor | None]]:
    """One GRU step: (the update, the new running retain gradient).

    m = running_average(average, direction, moving_avg); the retain term `term` enters the projected gradient
    (`place` "inside": rectify(forget + term, m)) or is added after it ("after": rectify(forget, m) + term); without
    one, the update is rectify(forget, m). `partitioned`: as for `inner`."""
    average = running_average(average, direction, moving_avg)
    objective = add(forget, term) if term is not None and place == "inside" else forget
    update = rectify(objective, average, partitioned)
    if term is not None and place == "after":
        update = add(update, term)
    return update, average


def sam_perturbation(
    grads: list[torch.Tensor | None], rho: float, partitioned: bool = False
) -> list[torch.Tensor | None]:
    """The first-order solution of max_{||delta|| <= rho} L(theta + delta): delta = rho * g / ||g|| (zero if g = 0).

    ||g|| is the norm over all parameters (and processes, for sharded gradients), as the constraint is on the
    whole delta.
    """
    norm = float(inner(grads, grads, partitioned).sqrt())
    scale = rho / norm if norm > 0 else 0.0
    return [None if g is None else g * scale for g in grads]
