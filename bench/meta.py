"""Run metadata stored with every result file: code version, package versions, hardware, precision, CLI."""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _version(pkg: str) -> str | None:
    try:
        return importlib.metadata.version(pkg)
    except importlib.metadata.PackageNotFoundError:
        return None


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run_meta(argv: list[str], backends: list[str], device: str) -> dict[str, Any]:
    devices: dict[str, str] = {}
    if {"torch", "torch-compile"} & set(backends) and device == "cuda":
        import torch

        devices["torch"] = torch.cuda.get_device_name()
    if "jax" in backends:
        import jax

        devices["jax"] = str(jax.devices("gpu" if device == "cuda" else "cpu")[0].device_kind)
    return {
        "run_id": uuid.uuid4().hex[:12],
        "git_sha": _git("rev-parse", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "versions": {p: _version(p) for p in ("numpy", "torch", "jax", "jaxlib", "pandas", "pyarrow", "mcgrad-bench")},
        "python": platform.python_version(),
        "cpu": _cpu_name(),
        "device": device,
        "device_names": devices,
        "precision": {"dtype": "float32", "jax_default_matmul_precision": "highest",
                      "torch_allow_tf32": False},
        # a recorded choice: threefry with per-row keys costs JAX ~60 us per small estimate (README, speed)
        "random": {"jax_prng_impl": _jax_prng_impl(backends), "jax_keys": "fold_in(fold_in(key, row), layer)",
                   "torch": "one torch.Generator per cell, uniforms drawn in order"},
        "argv": argv,
    }


def _jax_prng_impl(backends: Any) -> str:
    if "jax" not in backends:
        return ""
    import jax

    return str(jax.config.jax_default_prng_impl)
