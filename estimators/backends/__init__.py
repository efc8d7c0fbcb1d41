"""The backends: each supplies the op set (`Ops`) and a driver (`estimators.driver.Driver`).

    torch          eager PyTorch, rows vectorised over estimates by batching, one backward pass per chunk
    torch-compile  the torch ops, each cell's evaluation under torch.compile(fullgraph=True)
    jax            JAX, a fixed block of rows jit-compiled once per cell, uniforms drawn inside the compiled code

A backend is imported only when it is first used (einops-style): `estimators.driver.driver(name, device)`.
"""
