"""What to run, declared as data: cells, presets, and the grids a suite expands into."""
