"""The documentation site: it builds offline with --strict, documents every interface, and its tutorial runs."""
