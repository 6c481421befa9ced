"""The curriculum: the training-loop API (:mod:`.birdie`) that turns validation losses into the next mixture
through a reward function and an agent, its evaluation schedule (:mod:`.schedule`), what it records
(:mod:`.metrics`) and how ranks agree on it (:mod:`.distributed`)."""
