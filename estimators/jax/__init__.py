"""JAX implementations: one module per estimator, each registering its surrogate on import."""

from estimators.jax import (  # noqa: F401
    arm,
    deterministic,
    disarm,
    exact,
    gumbel_rao,
    gumbel_softmax,
    indecater,
    local_reparam,
    muprop,
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
)
