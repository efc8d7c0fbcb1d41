"""Measuring the machine: the timing protocol, clocks and loads, memory, and a cell's memory budget."""
