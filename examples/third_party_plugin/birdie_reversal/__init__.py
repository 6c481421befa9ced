"""Example third-party Birdie plugin: the `reversal.reverse` objective."""

__version__ = "0.1.0"
