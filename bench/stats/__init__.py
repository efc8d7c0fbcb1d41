"""Statistics, once, in NumPy: streamed moments of gradient rows, the metrics and their standard errors, truths."""
