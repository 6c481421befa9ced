"""Adapters from Birdie's batches to other training stacks; see docs/integrations.md.

Each module is imported on its own (``birdie_core.integrations.hf``, ``birdie_core.integrations.torch``), so
that importing :mod:`birdie_core` never imports ``transformers``.
"""
