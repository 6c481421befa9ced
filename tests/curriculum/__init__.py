"""The Birdie training-loop API: evaluations, curriculum, faults, several processes."""
