"""JAX implementations: one module per estimator, each registering its surrogate on import."""

from estimators.jax import (  # noqa: F401
    arm,
    arms,
    deterministic,
    disarm,
    exact,
    gumbel_rao,
    gumbel_softmax,
    indecater,
    local_reparam,
    measure_valued,
    muprop,
    nvil,
    rebar,
    reinforce,
    reinforce_ema,
    reinmax,
    relax,
    reparam,
    rloo,
    st,
    st_gumbel,
    st_sigmoid,
    vimco,
)
from estimators.plugins import import_backend

# plug-ins' jax modules register themselves the same way (estimators.plugins)
import_backend("jax")
