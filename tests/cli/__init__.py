"""The `birdie` command line, run as an installed console script."""
