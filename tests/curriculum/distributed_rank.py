"""One rank of the two-process test (test_distributed.py beside it): run by torchrun --nproc_per_node 2.

The training loop of the README with 2 workers per rank; validation losses differ per rank (rank + 0 for
next-token prediction, rank + 1 for prefix-LM) so the reduction is visible. At step 5 the state is saved with
``accelerator.save_state`` (Birdie registered for checkpointing); a second Birdie loads it and continues.
Writes ``OUT/rank{r}.json``.
"""

from __future__ import annotations

import json
import os
import sys

import torch
from accelerate import Accelerator
from accelerate.checkpointing import load_custom_state

from birdie_core.curriculum.birdie import Birdie
from tests.support import TEXTS, digest, make_config, make_registry

STEPS, SAVE_AT = 10, 5


def loop(birdie, rank, steps, record):
    for step in steps:
        if birdie.time_for_eval(step):
            for key, _batch in birdie.measure_validation_losses():
                loss = torch.tensor(float(rank + (1 if key == "plm" else 0)))
                birdie.log_validation_loss(key=key, loss=loss, step_idx=step)
            record["mixtures"].append(birdie.mixture)
        batch = birdie.get_next_training_sample()
        record["digests"].append(digest(batch))
        record["documents"] += [i for _, i in birdie.last_batch_info.documents.tolist()]
        record["shards"].append(list(birdie.last_batch_info.shard))
        yield step


def main() -> None:
    out = sys.argv[1]
    accelerator = Accelerator(cpu=True)
    rank = accelerator.process_index
    cfg = make_config(
        num_workers=2,
        agent={"name": "scripted", "mixtures": [[1, 2], [3, 1], [1, 1]]},
        every=3,
        texts=[t[:300] for t in TEXTS],
    )
    registry = make_registry()
    first = {"mixtures": [], "digests": [], "documents": [], "shards": []}
    birdie = Birdie(cfg, registry=registry, accelerator=accelerator, run_dir=os.path.join(out, "run"))
    accelerator.register_for_checkpointing(birdie)
    for step in loop(birdie, rank, range(STEPS), first):
        if step == SAVE_AT:
            accelerator.save_state(os.path.join(out, "checkpoint"))
    accelerator.wait_for_everyone()

    resumed = {"mixtures": [], "digests": [], "documents": [], "shards": []}
    again = Birdie(cfg, registry=registry, accelerator=accelerator)
    load_custom_state(again, os.path.join(out, "checkpoint"), 0)
    for _ in loop(again, rank, range(SAVE_AT + 1, STEPS), resumed):
        pass
    result = {
        "rank": rank,
        "world_size": accelerator.num_processes,
        "distributed_type": str(accelerator.distributed_type),
        "collective": type(birdie.collective).__name__,
        "agent_calls": birdie.agent.calls,
        "losses": [r["losses"] for r in birdie.history],
        "first": first,
        "resumed": resumed,
        "history_steps": [r["step"] for r in again.history],
    }
    birdie.close()
    again.close()
    with open(os.path.join(out, f"rank{rank}.json"), "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
