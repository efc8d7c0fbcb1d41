"""The three suites, one module each: a function from a Cell to its rows of metrics.

    gradients  bias, variance, mse, snr, cosine with standard errors, streamed within a memory budget
    speed      time per estimate against the problem's floor, compile time, memory
    training   held-out curves of a model trained with the estimator
"""
