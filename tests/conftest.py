"""Torch is imported before JAX; JAX matmuls run at full float32 precision so TF32 never shows as bias."""

import os

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import torch  # noqa: E402,F401  (before jax, see ARCHITECTURE notes)

try:
    import jax

    jax.config.update("jax_default_matmul_precision", "highest")
except ImportError:  # a torch-only install still runs the torch half of the suite
    pass
