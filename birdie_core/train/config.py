"""The reference trainer's own settings: the ``train:`` section of a pipeline config (see docs/training.md)."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from birdie_core.evals.spec import TaskEval
from birdie_core.interfaces import ConfigFloat, ConfigInt

__all__ = ["TRACKER_NAMES", "OptimizerConfig", "TrackerName", "TrainConfig", "TrainModelConfig"]

_Beta = Annotated[ConfigFloat, Field(ge=0.0, lt=1.0)]

#: The experiment trackers of accelerate (its ``log_with`` names, less "all": a run names what it logs to).
#: A test keeps this list equal to accelerate's own.
TrackerName = Literal[
    "tensorboard", "wandb", "mlflow", "comet_ml", "aim", "clearml", "dvclive", "swanlab", "trackio"
]
TRACKER_NAMES: tuple[str, ...] = get_args(TrackerName)


class TrainModelConfig(BaseModel):
    """The reference model `birdie train` builds: the prefix-LM Transformer
    (``birdie_core.train.models.PrefixLMTransformer``) or the gated SSM with a bidirectional prefix
    (``birdie_core.train.ssm.GatedSSM``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Literal["prefix_lm_transformer", "gated_ssm"] = Field(
        "prefix_lm_transformer",
        description="The model class: prefix_lm_transformer (attention) or gated_ssm (the paper's gated "
        "recurrence, every other layer bidirectional over the prefix).",
    )
    width: ConfigInt = Field(128, ge=1, description="Hidden size.")
    depth: ConfigInt = Field(2, ge=1, description="Blocks (attention or SSM, each followed by an MLP).")
    heads: ConfigInt = Field(
        4, ge=1, description="Attention heads; must divide width (prefix_lm_transformer only)."
    )
    state_expansion: ConfigInt = Field(
        1,
        ge=1,
        le=64,
        description="gated_ssm only: the recurrent state has state_expansion × width channels (an even number: "
        "half scans forward, half backward over the prefix).",
    )
    bidirectional: bool = Field(
        True,
        description="gated_ssm only: every other layer reads the prefix in both directions (false: all causal).",
    )
    dropout: ConfigFloat = Field(0.0, ge=0.0, lt=1.0, description="Dropout on mixer and MLP outputs.")
    max_length: ConfigInt | None = Field(
        None,
        ge=1,
        description="Positions the model can embed (default: sequence_length); must be >= sequence_length.",
    )

    @model_validator(mode="after")
    def _heads_divide_width(self) -> TrainModelConfig:
        if self.name == "prefix_lm_transformer" and self.width % self.heads:
            raise ValueError(f"width ({self.width}) must be a multiple of heads ({self.heads})")
        if self.name == "gated_ssm" and (self.width * self.state_expansion) % 2:
            raise ValueError(
                f"the gated SSM's state (state_expansion {self.state_expansion} × width {self.width}) must be "
                "even: half of it scans forward, half backward"
            )
        return self


class OptimizerConfig(BaseModel):
    """AdamW and its learning-rate schedule, for the reference trainer."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lr: ConfigFloat = Field(3e-4, gt=0.0, description="Peak learning rate.")
    weight_decay: ConfigFloat = Field(
        0.1, ge=0.0, description="AdamW weight decay (not applied to norms and biases)."
    )
    betas: tuple[_Beta, _Beta] = (
        0.9,
        0.95,
    )
    warmup_steps: ConfigInt = Field(0, ge=0, description="Linear warm-up from lr / warmup_steps to lr.")
    schedule: Literal["cosine", "constant"] = Field(
        "cosine", description="After warm-up: cosine decay to min_lr_ratio * lr at the last step, or constant."
    )
    min_lr_ratio: ConfigFloat = Field(
        0.1, ge=0.0, le=1.0, description="The cosine schedule's final lr, as a share of lr."
    )
    grad_clip: ConfigFloat | None = Field(
        1.0, gt=0.0, description="Clip the gradient norm to this (null: no clipping)."
    )


class TrainConfig(BaseModel):
    """The reference trainer (`birdie train`; see docs/training.md)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: TrainModelConfig = Field(default_factory=TrainModelConfig)
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    output: str = Field("runs/birdie", min_length=1, description="The run directory.")
    steps: ConfigInt | None = Field(
        None,
        ge=1,
        description="Training steps, each one optimizer update of gradient_accumulation_steps batches "
        "(default: curriculum.num_steps).",
    )
    checkpoint_every: ConfigInt | None = Field(
        None, ge=1, description="Steps between checkpoints (default: only at the end)."
    )
    keep_checkpoints: ConfigInt = Field(
        2, ge=1, description="Checkpoints kept in the run directory (the newest)."
    )
    log_every: ConfigInt = Field(10, ge=1, description="Steps between progress lines.")
    trackers: tuple[TrackerName, ...] = Field(
        (),
        description="Experiment trackers to log to through accelerate (tensorboard, wandb, mlflow, ...); "
        "their files go to RUN_DIR/trackers. tensorboard and wandb are the `trackers` extra.",
    )
    tracker_project: str = Field(
        "birdie", min_length=1, description="The project name the trackers file the run under."
    )
    num_threads: ConfigInt | None = Field(
        None,
        ge=1,
        description="torch CPU threads per process (null: torch's default). Losses repeat bit for bit only "
        "with the same number.",
    )
    gradient_accumulation_steps: ConfigInt = Field(
        1,
        ge=1,
        description="Batches per optimizer update (accelerate's gradient accumulation). A step is one update: "
        "it draws this many batches from Birdie, and train.steps, checkpoints, the learning-rate schedule, "
        "curriculum.num_steps and the evaluation schedule all count such steps.",
    )
    precision: Literal["no", "bf16", "fp16"] | None = Field(
        None,
        description="Mixed precision (accelerate's mixed_precision): 'no' (float32), 'bf16' (bfloat16 "
        "autocast: CPUs and recent GPUs) or 'fp16' (float16 autocast with loss scaling: GPUs only). "
        "null: the launcher's choice (accelerate launch --mixed_precision), else 'no'.",
    )
    compile: bool = Field(
        False,
        description="torch.compile the model (inductor; needs a C compiler on CPU). The first steps are "
        "slower while it compiles.",
    )
    evals: tuple[TaskEval, ...] = Field(
        (),
        description="Evaluation tasks scored at every evaluation of the run (birdie_core.evals: "
        "{task: phonebook, n: 64, seed: 0, entries: 16}); their results go to RUN_DIR/tasks.jsonl, the "
        "trackers (task/<key>) and the evaluation line.",
    )
    init_from: str | None = Field(
        None,
        min_length=1,
        description="A run directory whose newest checkpoint's model weights start this run (fine-tuning: "
        "the optimizer, schedule and curriculum start afresh). Ignored when the run is resumed.",
    )

    @model_validator(mode="after")
    def _distinct_eval_keys(self) -> TrainConfig:
        # results are logged by key (task and parameters): two entries with one key would overwrite each other
        seen: dict[str, int] = {}
        for i, entry in enumerate(self.evals):
            if entry.key in seen:
                raise ValueError(
                    f"evals[{i}] has the key {entry.key!r} of evals[{seen[entry.key]}] (a task and its "
                    "parameters): their results would be logged under one name; give them different parameters"
                )
            seen[entry.key] = i
        return self
