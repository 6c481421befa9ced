"""Plugin discovery, the registry and its switches, and the core installed alone."""
