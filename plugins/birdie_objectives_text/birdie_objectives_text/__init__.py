"""Text objectives for Birdie: infilling, copying, deshuffling, autoencoding, selective copying; UL2 and Birdie presets."""

__version__ = "0.1.0"
