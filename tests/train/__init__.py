"""`birdie train`: the loop, the reference model, the run directory, the command."""
