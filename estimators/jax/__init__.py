"""JAX implementations: one module per estimator, each registering its surrogate on import."""

from estimators.jax import (  # noqa: F401
    arm,
    deterministic,
    disarm,
    exact,
    gumbel_softmax,
    local_reparam,
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
