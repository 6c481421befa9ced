"""The core's own components: objectives, packer, sources, tokenizers, and their conformance."""
