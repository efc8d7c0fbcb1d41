"""PyTorch implementations: one module per estimator, each registering its surrogate on import."""

from estimators.plugins import import_backend
from estimators.torch import (  # noqa: F401
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

# plug-ins' torch modules register themselves the same way (estimators.plugins)
import_backend("torch")
