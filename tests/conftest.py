"""Torch is imported before JAX; JAX matmuls run at full float32 precision so TF32 never shows as bias."""

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
# truths computed by the tests' cells stay out of the user's cache (~/.cache/mcgrad-bench), one folder a session
os.environ.setdefault("MCGRAD_BENCH_CACHE", tempfile.mkdtemp(prefix="mcgrad-bench-tests-"))
if os.environ.get("PYTEST_XDIST_WORKER"):  # `make test` runs two workers on two cores: one thread each, no spinning
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import torch  # noqa: E402  (before jax, see ARCHITECTURE notes)

if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)

try:
    import jax

    jax.config.update("jax_default_matmul_precision", "highest")
except ImportError:  # a torch-only install still runs the torch half of the suite
    pass


# What runs in the slow tier (`make test-slow`) besides the tests marked there, to keep `make test` fast:
# - the JAX cases of the z-tests against exact truths (tests/test_unbiased.py, tests/test_gaussian_models.py):
#   each compiles anew. The fast tier keeps their torch cases, and shows that JAX computes the same rows as torch
#   on the same uniforms for every estimator (tests/test_backends_agree.py) and the same distributions
#   (its mean-and-variance test), so a JAX fault still fails the fast tier;
# - every JAX case of an estimator that trains a network per state (RODEO: ~20 s a case on one core), except the
#   same-uniforms row test.
JAX_Z_TESTS_SLOW = ("test_unbiased.py", "test_gaussian_models.py")
SLOW_IN_JAX = {"rodeo"}


def pytest_collection_modifyitems(items):
    for item in items:
        params = item.callspec.params if hasattr(item, "callspec") else {}
        jax_case = params.get("backend", "jax") == "jax"
        if ((params.get("name") in SLOW_IN_JAX and jax_case and "same_rows" not in item.name)
                or (item.path.name in JAX_Z_TESTS_SLOW and params.get("backend") == "jax")):
            item.add_marker(pytest.mark.slow)


def _declares_a_group(path: str) -> bool:
    file = Path(__file__).parent.parent / path
    return file.is_file() and "xdist_group(" in file.read_text()


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node, ids):
    """`--dist loadgroup` sends a module's tests to one worker by appending "@group" to their node ids; with
    pytest 9.2 the append silently stopped taking effect (pytest-xdist#1386), and each worker built the
    report and the Ray cluster for itself. Stop with that said, rather than run slower without a word."""
    if node.config.getoption("dist", "no") != "loadgroup" or any("@" in i for i in ids):
        return
    files = {i.split("::")[0] for i in ids}
    if any(_declares_a_group(f) for f in files):
        pytest.exit("pytest-xdist's --dist loadgroup dropped every xdist_group (pytest-xdist#1386, pytest 9.2): "
                    "install what pyproject.toml pins (`pip install -e '.[dev]'`)", returncode=4)
