"""The DNA plugin's tests: they need only birdie-core and this plugin."""
