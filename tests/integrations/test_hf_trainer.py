"""BirdieTrainer: a Hugging Face Trainer trains a tiny random Llama on Birdie's batches, on Birdie's schedule."""

from __future__ import annotations

import math

import pytest
import torch

from birdie_core import Birdie
from birdie_core.errors import CheckpointError
from birdie_core.registry import load_registry
from tests.integrations.test_hf import reference_loss, tiny_llama
from tests.support import RESUME_AGENT, make_config, make_registry, tiny_config

transformers = pytest.importorskip("transformers")

from birdie_core.integrations.hf_trainer import (  # after the skip: it imports transformers
    BirdieCallback,
    BirdieTrainer,
    CausalLMBatches,
    evaluation_logs,
    training_arguments,
)

pytestmark = pytest.mark.usefixtures("time_limit")


@pytest.fixture(autouse=True)
def one_thread():
    """A tiny model trains several times faster on one thread, and far more so on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


#: what every run here shares: CPU, nothing saved, no tracker, no progress bar
QUIET = {"use_cpu": True, "report_to": "none", "save_strategy": "no", "disable_tqdm": True}


class RecordingTrainer(BirdieTrainer):
    """Checks every training micro-batch: its shape, and the model's loss against Birdie's reference loss."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.shapes: list[tuple[int, ...]] = []
        self.gaps: list[float] = []

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        loss, outputs = super().compute_loss(
            model, inputs, return_outputs=True, num_items_in_batch=num_items_in_batch
        )
        self.shapes.append(tuple(inputs["input_ids"].shape))
        reference = reference_loss(outputs.logits.detach(), inputs["shift_labels"])
        self.gaps.append(abs(loss.item() - reference.item()))
        return (loss, outputs) if return_outputs else loss


def test_the_trainer_runs_birdies_curriculum_on_birdies_schedule(tmp_path):
    pytest.importorskip("birdie_rewards")
    config = tiny_config(
        tmp_path / "unused",
        batch_size=2,
        curriculum={"steps_between_evaluations": 5, "num_steps": 20},
    )
    with Birdie(config, registry=load_registry(autoload=True)) as birdie:
        start = birdie.mixture
        model = tiny_llama(birdie.tokenizer.vocab_size, "sdpa")
        args = training_arguments(
            birdie, output_dir=str(tmp_path / "out"), learning_rate=3e-3, logging_steps=5, **QUIET
        )
        trainer = RecordingTrainer(model=model, args=args, birdie=birdie)
        result = trainer.train()

        assert result.global_step == trainer.state.global_step == 20
        assert birdie.batches_consumed == 20
        # every micro-batch is one of Birdie's batches, neither re-batched nor collated
        assert trainer.shapes == [(2, 64)] * 20
        assert max(trainer.gaps) < 1e-5
        # evaluations at Birdie's steps, and a last one at num_steps; the step-0 evaluation comes before
        # any batch is drawn, the later ones after the Trainer drew the batch of their step
        assert [r["step"] for r in birdie.history] == [0, 5, 10, 15, 20]
        assert [r["batches_consumed"] for r in birdie.history] == [0, 6, 11, 16, 20]
        assert model.training
        # the curriculum learned: the mixture moved away from the initial one
        assert start == {"ntp": 0.5, "plm": 0.5}
        assert birdie.mixture != start
        # every evaluation reached the Trainer's logs, with the mixture it chose
        logged = [e for e in trainer.state.log_history if "birdie/evaluation_step" in e]
        assert [e["birdie/evaluation_step"] for e in logged] == [0, 5, 10, 15, 20]
        for entry, record in zip(logged, birdie.history):
            assert entry["birdie/mixture/ntp"] == record["mixture"]["ntp"]
            assert entry["birdie/loss/plm"] == record["losses"]["plm"]
        train_losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
        assert len(train_losses) == 4
        values = train_losses + [v for e in logged for k, v in e.items() if k.startswith("birdie/")]
        assert all(math.isfinite(v) for v in values)
        assert logged[-1]["birdie/mean_loss"] < logged[0]["birdie/mean_loss"]


def test_with_gradient_accumulation_birdie_counts_micro_batches(tmp_path):
    config = make_config(sequence_length=64, every=3)
    config["curriculum"]["num_steps"] = 12
    with Birdie(config, registry=make_registry()) as birdie:
        model = tiny_llama(birdie.tokenizer.vocab_size)
        args = training_arguments(
            birdie, gradient_accumulation_steps=2, output_dir=str(tmp_path / "out"), **QUIET
        )
        assert args.max_steps == 6
        trainer = BirdieTrainer(model=model, args=args, birdie=birdie)
        assert trainer.train().global_step == 6
        # steps 3 and 9 fall inside an accumulation window: evaluated before their micro-batch, after the
        # Trainer drew the window's two batches
        assert [r["step"] for r in birdie.history] == [0, 3, 6, 9, 12]
        assert [r["batches_consumed"] for r in birdie.history] == [0, 4, 8, 10, 12]


def test_a_resumed_run_continues_birdie_as_if_never_stopped(tmp_path):
    config = make_config(sequence_length=64, every=3, agent=RESUME_AGENT)
    config["curriculum"]["num_steps"] = 12

    def run(resume=None):
        with Birdie(config, registry=make_registry()) as birdie:
            args = training_arguments(
                birdie,
                gradient_accumulation_steps=2,
                output_dir=str(tmp_path / "out"),
                logging_steps=1,
                **{**QUIET, "save_strategy": "steps"},
                save_steps=3,
            )
            model = tiny_llama(birdie.tokenizer.vocab_size)
            trainer = BirdieTrainer(model=model, args=args, birdie=birdie)
            trainer.train(resume_from_checkpoint=resume)
            evaluations = [
                (r["step"], r["batches_consumed"], r["effective_batch"], r["mixture"], r["losses"])
                for r in birdie.history
            ]
            train_losses = {e["step"]: e["loss"] for e in trainer.state.log_history if "loss" in e}
            return evaluations, train_losses

    full, full_losses = run()
    assert (tmp_path / "out" / "checkpoint-3" / "birdie_state.json").is_file()
    assert [e[0] for e in full] == [0, 3, 6, 9, 12]
    assert len({str(e[3]) for e in full}) == 3  # the scripted mixtures
    resumed, resumed_losses = run(str(tmp_path / "out" / "checkpoint-3"))
    assert [e[:4] for e in resumed] == [e[:4] for e in full]
    for (*_, a), (*_, b) in zip(resumed, full):
        assert a == pytest.approx(b, abs=1e-5)
    assert sorted(resumed_losses) == sorted(full_losses) == [1, 2, 3, 4, 5, 6]
    for step, loss in full_losses.items():
        assert resumed_losses[step] == pytest.approx(loss, abs=1e-5)


@pytest.fixture
def birdie():
    with Birdie(make_config(sequence_length=64), registry=make_registry()) as b:
        yield b


def args_for(tmp_path, **kwargs):
    return transformers.TrainingArguments(output_dir=str(tmp_path), per_device_train_batch_size=2, **kwargs)


def test_max_steps_must_be_set_and_fit_birdies_steps(birdie, tmp_path):
    model = tiny_llama(birdie.tokenizer.vocab_size)
    with pytest.raises(
        ValueError, match="max_steps must be set.*max_steps=50 with gradient_accumulation_steps=2"
    ):
        BirdieTrainer(
            model=model, args=args_for(tmp_path, gradient_accumulation_steps=2, **QUIET), birdie=birdie
        )
    with pytest.raises(
        ValueError,
        match="needs 102 training batches, but Birdie.s stream ends after curriculum.num_steps=100",
    ):
        BirdieTrainer(
            model=model,
            args=args_for(tmp_path, max_steps=51, gradient_accumulation_steps=2, **QUIET),
            birdie=birdie,
        )
    BirdieTrainer(model=model, args=args_for(tmp_path, max_steps=50, **QUIET), birdie=birdie)  # fewer is fine
    assert training_arguments(birdie, gradient_accumulation_steps=3, output_dir=str(tmp_path)).max_steps == 33
    with pytest.raises(ValueError, match="max_steps follows from the Birdie config"):
        training_arguments(birdie, max_steps=5, output_dir=str(tmp_path))
    with pytest.raises(ValueError, match="not enough for one optimiser step"):
        training_arguments(birdie, gradient_accumulation_steps=101, output_dir=str(tmp_path))


def test_settings_that_would_break_birdies_stream_are_refused(birdie, tmp_path):
    model = tiny_llama(birdie.tokenizer.vocab_size)
    with pytest.raises(ValueError, match="not a train_dataset"):
        BirdieTrainer(
            model=model,
            args=args_for(tmp_path, max_steps=2, **QUIET),
            birdie=birdie,
            train_dataset=birdie.as_iterable_dataset(),
        )
    with pytest.raises(ValueError, match="leave dataloader_num_workers at 0"):
        BirdieTrainer(
            model=model,
            args=args_for(tmp_path, max_steps=2, dataloader_num_workers=2, **QUIET),
            birdie=birdie,
        )
    trainer = BirdieTrainer(model=model, args=args_for(tmp_path, max_steps=2, **QUIET), birdie=birdie)
    with pytest.raises(CheckpointError, match="holds no birdie_state.json"):
        trainer.train(resume_from_checkpoint=str(tmp_path))
    assert birdie.batches_consumed == 0
    # a Birdie that has moved on without the Trainer (or was not resumed with it)
    birdie.get_next_training_sample()
    with pytest.raises(CheckpointError, match="starts at step 0 .* but Birdie has consumed 1 batches"):
        trainer.train()


def test_a_birdie_of_another_rank_layout_is_refused(tmp_path):
    with Birdie(make_config(sequence_length=64), registry=make_registry(), rank=1, world_size=2) as birdie:
        model = tiny_llama(birdie.tokenizer.vocab_size)
        with pytest.raises(ValueError, match="rank 0 of 1 for the Trainer but rank 1 of 2 for Birdie"):
            BirdieTrainer(model=model, args=args_for(tmp_path, max_steps=2, **QUIET), birdie=birdie)


def test_the_callback_refuses_a_trainer_that_batches_birdie_itself(birdie, tmp_path):
    model = tiny_llama(birdie.tokenizer.vocab_size)
    trainer = transformers.Trainer(
        model=model,
        args=args_for(tmp_path, max_steps=2, **QUIET),
        train_dataset=birdie.as_iterable_dataset(),
        callbacks=[BirdieCallback(birdie)],
    )
    with pytest.raises(TypeError, match="training loader is a DataLoader"):
        trainer.train()
    assert birdie.batches_consumed == 0


def test_the_batches_refuse_a_dataloader_worker(birdie):
    loader = torch.utils.data.DataLoader(CausalLMBatches(birdie), batch_size=None, num_workers=1)
    with pytest.raises(RuntimeError, match="DataLoader worker process"):
        next(iter(loader))
    batch = next(iter(CausalLMBatches(birdie, dtype=torch.bfloat16)))
    assert batch["attention_mask"].shape == (2, 1, 64, 64)
    assert batch["attention_mask"].dtype == torch.bfloat16
    assert set(batch) == {"input_ids", "labels", "shift_labels", "position_ids", "attention_mask"}


def test_the_logs_leave_out_an_objective_without_a_validation_loss():
    record = {
        "step": 5,
        "losses": {"ntp": 2.0, "plm": float("nan")},
        "mixture": {"ntp": 0.25, "plm": 0.75},
        "rewards": None,
    }
    assert evaluation_logs(record) == {
        "birdie/evaluation_step": 5.0,
        "birdie/mean_loss": 2.0,
        "birdie/loss/ntp": 2.0,
        "birdie/mixture/ntp": 0.25,
        "birdie/mixture/plm": 0.75,
    }
