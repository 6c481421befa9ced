"""The reference trainer behind ``birdie train``: the loop (:mod:`.loop`), its settings (:mod:`.config`), the
reference models (:mod:`.models`), the run directory (:mod:`.runs`), the JSON state files of its checkpoints
(:mod:`.state_files`), its plots (:mod:`.plots`), what it prints (:mod:`.progress`), the experiment
trackers it logs to (:mod:`.trackers`) and the evaluation tasks it scores and the trained weights it loads
(:mod:`.evaluation`).

Nothing heavy is imported here, so that the configuration can use :mod:`.config` without torch.
"""
