"""The machine a benchmark ran on, and its measured dense-matmul FLOP/s (the "peak" shares are taken of).

Absolute times drift on shared machines, so every result carries this record: CPU model and cores,
torch threads, GPU, the load average before and after, and the FLOP/s of a large square matmul timed
with torch in the dtype and on the device the benchmark computes in.
"""

from __future__ import annotations

import math
import os
import platform
import time
from collections.abc import Iterator
from contextlib import contextmanager

import torch


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_flops(
    *, dtype: torch.dtype, device: torch.device, size: int = 2048, seconds: float = 1.0, repeats: int = 3
) -> float:
    """Best-of-``repeats`` FLOP/s of ``(size, size) @ (size, size)`` in ``dtype`` on ``device``.

    Each repeat runs matmuls for about ``seconds``; a matmul counts ``2 * size**3`` FLOPs. The best
    repeat is the least disturbed by other processes, so it is the closest to the machine's peak.
    """
    gen = torch.Generator(device="cpu").manual_seed(0)
    a = torch.randn(size, size, generator=gen).to(device, dtype)
    b = torch.randn(size, size, generator=gen).to(device, dtype)
    flop = 2.0 * size**3
    with torch.inference_mode():
        torch.mm(a, b)  # warm-up: thread pool, kernels
        _sync(device)
        best = 0.0
        for _ in range(repeats):
            n, started = 0, time.perf_counter()
            while True:
                torch.mm(a, b)
                n += 1
                _sync(device)
                elapsed = time.perf_counter() - started
                if elapsed >= seconds:
                    break
            best = max(best, n * flop / elapsed)
    return best


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads (restored afterwards)."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def ray_worker_threads(cpus: float) -> int:
    """The torch threads Ray gives a task or actor reserving ``cpus`` CPUs (``OMP_NUM_THREADS``: floor, at least 1)."""
    return max(1, math.floor(cpus))


def machine_info(
    *, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu", matmul_size: int = 2048
) -> dict:
    """What ran the benchmark, with ``matmul_flops`` measured now (call it next to the timed run: on a
    shared machine the peak moves with the load, so the share of peak is taken of the peak of the moment).
    On a GPU also its memory and the CUDA version; ``matmul_size`` 8192 or more fills a large GPU."""
    device = torch.device(device)
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    extra = {}
    if gpu is not None:
        props = torch.cuda.get_device_properties(device)
        extra = {
            "gpu_memory_gib": round(props.total_memory / 2**30, 1),
            "gpu_capability": f"{props.major}.{props.minor}",
            "cuda": torch.version.cuda,
        }
    return {
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "device": str(device),
        "gpu": gpu,
        **extra,
        "dtype": str(dtype).removeprefix("torch."),
        "matmul_size": matmul_size,
        "matmul_flops": matmul_flops(dtype=dtype, device=device, size=matmul_size, seconds=0.5),
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }


def synchronize(device: torch.device) -> None:
    """Wait for the GPU's queued work (timers read the host clock); nothing on CPU."""
    _sync(device)


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_gib(device: torch.device) -> float | None:
    """The GPU memory torch allocated at most since :func:`reset_peak_memory` (None on CPU)."""
    return round(torch.cuda.max_memory_allocated(device) / 2**30, 2) if device.type == "cuda" else None
