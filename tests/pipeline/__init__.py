"""Turning a config into batches: construction, the in-process stream, the workers' mixture schedule."""
