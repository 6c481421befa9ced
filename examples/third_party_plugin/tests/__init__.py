"""The example plugin's tests: Birdie's conformance suite, and the plugin found through its entry point."""
