"""The reference trainer behind ``birdie train``: the loop (:mod:`.loop`), its settings (:mod:`.config`), the
reference models (:mod:`.models`), the run directory (:mod:`.runs`), the JSON state files of its checkpoints
(:mod:`.state_files`), its plots (:mod:`.plots`), what it prints (:mod:`.progress`) and the experiment
trackers it logs to (:mod:`.trackers`).

Nothing heavy is imported here, so that the configuration can use :mod:`.config` without torch.
"""
