"""Deterministic synthetic VCFs and dataset metadata for tests, demos and benchmarks."""
