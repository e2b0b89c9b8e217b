"""Deterministic synthetic VCFs and dataset metadata for tests, demos and benchmarks. It uses
the cores' vocabularies (assemblies, access levels, the metadata model), never `node`."""
