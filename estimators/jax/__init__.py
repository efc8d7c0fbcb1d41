"""JAX implementations: one module per estimator, each registering its surrogate on import."""

from estimators.jax import (  # noqa: F401
    arm,
    arms,
    deterministic,
    disarm,
    exact,
    gumbel_softmax,
    local_reparam,
    measure_valued,
    nvil,
    rebar,
    reinforce,
    reinforce_ema,
    relax,
    reparam,
    rloo,
    st,
    st_gumbel,
    st_sigmoid,
    vimco,
)
