"""System metrics sampled in the background: CPU, memory, and GPUs when present.

Logged under ``sys/`` with their own step counter every ``LABBOOK_SYSTEM_INTERVAL``
seconds (default 10; 0 turns sampling off). CPU and RSS cover the whole process tree of
the run, so a training script's data-loader workers count too.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

DEFAULT_INTERVAL_S = 10.0


def sample_interval() -> float:
    try:
        return max(0.0, float(os.environ.get("LABBOOK_SYSTEM_INTERVAL", DEFAULT_INTERVAL_S)))
    except ValueError:
        return DEFAULT_INTERVAL_S


def _gpu_sampler() -> Callable[[], dict[str, float]] | None:
    import shutil  # here: the first sample comes seconds after init, which should not pay for it
    import subprocess

    try:
        import pynvml  # nvidia-ml-py, when installed

        pynvml.nvmlInit()
        handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]

        def nvml() -> dict[str, float]:
            out = {}
            for i, h in enumerate(handles):
                out[f"sys/gpu{i}_util_percent"] = float(pynvml.nvmlDeviceGetUtilizationRates(h).gpu)
                out[f"sys/gpu{i}_mem_mb"] = pynvml.nvmlDeviceGetMemoryInfo(h).used / 2**20
            return out

        return nvml
    except Exception:
        pass
    if shutil.which("nvidia-smi") is None:
        return None

    def smi() -> dict[str, float]:
        proc = subprocess.run(
            ["nvidia-smi", "--query-gpu=index,utilization.gpu,memory.used", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        out = {}
        for line in proc.stdout.strip().splitlines():
            idx, util, mem = (x.strip() for x in line.split(","))
            out[f"sys/gpu{idx}_util_percent"] = float(util)
            out[f"sys/gpu{idx}_mem_mb"] = float(mem)
        return out

    return smi


def sampler_for(root_pids: list[int]) -> Callable[[], dict[str, float]] | None:
    """A function returning one sample for the process trees under ``root_pids``."""
    if sample_interval() == 0:
        return None
    procs: dict[int, Any] = {}
    gpu: list[Callable[[], dict[str, float]] | None] = []

    def sample() -> dict[str, float]:
        import psutil

        if not gpu:
            gpu.append(_gpu_sampler())
        alive: dict[int, Any] = {}
        for pid in root_pids:
            try:
                root = procs.get(pid) or psutil.Process(pid)
                for p in [root, *root.children(recursive=True)]:
                    alive[p.pid] = procs.get(p.pid, p)
            except psutil.Error:
                continue
        cpu = rss = 0.0
        measured = 0
        for p in alive.values():
            try:
                used = p.memory_info().rss
                if used == 0:
                    continue  # exiting: its memory is already released
                cpu += p.cpu_percent(None)
                rss += used
                measured += 1
            except psutil.Error:  # exited (or a zombie) since we listed it
                pass
        if not measured:
            return {}  # the run's processes have exited: nothing to say about them
        procs.clear()
        procs.update(alive)
        mem = psutil.virtual_memory()
        out = {
            "sys/cpu_percent": cpu,
            "sys/rss_mb": rss / 2**20,
            "sys/ram_used_percent": mem.percent,
        }
        if gpu[0] is not None:
            try:
                out.update(gpu[0]())
            except Exception:
                pass
        return out

    return sample
