"""``python -m bench``: placeholder until the benchmarks issue lands."""

print("no benchmarks yet (see the benchmarks issue)")
