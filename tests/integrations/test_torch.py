"""Plain PyTorch: iterating a Birdie, and Birdie as an IterableDataset under a DataLoader."""

from __future__ import annotations

import subprocess
import sys

import pytest
from torch.utils.data import DataLoader, IterableDataset

from birdie_core import Birdie
from birdie_core.integrations.torch import data_loader
from tests.support import digest, fake_loss, make_config, make_registry, subprocess_env

pytestmark = pytest.mark.usefixtures("time_limit")


def small(num_steps: int = 6):
    config = make_config(batch_size=2, sequence_length=64)
    config["curriculum"]["num_steps"] = num_steps
    return Birdie(config, registry=make_registry())


def reference(n: int) -> list[str]:
    with small(n) as birdie:
        return [digest(birdie.get_next_training_sample()) for _ in range(n)]


def test_iterating_yields_num_steps_batches_counting_those_already_drawn():
    with small(6) as birdie:
        first = digest(birdie.get_next_training_sample())
        rest = [digest(b) for b in birdie]
        assert [first, *rest] == reference(6)
        assert birdie.batches_consumed == 6
        assert list(birdie) == []


def test_the_readme_loop_with_evaluations_runs_over_iteration():
    with small(6) as birdie:
        for step, batch in enumerate(birdie):
            if birdie.time_for_eval(step):
                for key, val in birdie.measure_validation_losses():
                    birdie.log_validation_loss(key=key, loss=fake_loss(val), step_idx=step)
            assert batch["input_ids"].shape == (2, 64)
        assert [r["step"] for r in birdie.history] == [0, 4]


def test_a_data_loader_yields_the_same_batches():
    with small(5) as birdie:
        dataset = birdie.as_iterable_dataset()
        assert isinstance(dataset, IterableDataset)
        got = [digest(b) for b in data_loader(birdie)]
    assert got == reference(5)


def test_wrong_loader_settings_are_refused():
    with small(3) as birdie:
        with pytest.raises(ValueError, match="batch_size=None"):
            data_loader(birdie, batch_size=4)
        with pytest.raises(ValueError, match="num_workers=0"):
            data_loader(birdie, num_workers=2)
        loader = DataLoader(birdie.as_iterable_dataset(), batch_size=None, num_workers=1)
        with pytest.raises(RuntimeError, match="num_workers=0"):
            next(iter(loader))


def test_importing_birdie_core_does_not_import_transformers():
    code = "import sys, birdie_core, birdie_core.integrations.hf; assert 'transformers' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, env=subprocess_env(), timeout=60)
