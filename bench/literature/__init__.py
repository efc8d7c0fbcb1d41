"""What the seeds and papers claim, declared as data, and the suite's verdict on each: the seed experiments the
training suite reproduces, the papers' claims the gradients suite tests, and the findings that compare them."""
