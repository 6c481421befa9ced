"""The reference trainer's own settings: the ``train:`` section of a pipeline config (see docs/training.md)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from birdie_core.interfaces import ConfigFloat, ConfigInt

__all__ = ["OptimizerConfig", "TrainConfig", "TrainModelConfig"]

_Beta = Annotated[ConfigFloat, Field(ge=0.0, lt=1.0)]


class TrainModelConfig(BaseModel):
    """The reference model `birdie train` builds (``birdie_core.train.models.PrefixLMTransformer``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Literal["prefix_lm_transformer"] = Field(
        "prefix_lm_transformer", description="The model class (the core ships one: the prefix-LM Transformer)."
    )
    width: ConfigInt = Field(128, ge=1, description="Hidden size.")
    depth: ConfigInt = Field(2, ge=1, description="Transformer blocks.")
    heads: ConfigInt = Field(4, ge=1, description="Attention heads; must divide width.")
    dropout: ConfigFloat = Field(0.0, ge=0.0, lt=1.0, description="Dropout on attention and MLP outputs.")
    max_length: ConfigInt | None = Field(
        None,
        ge=1,
        description="Positions the model can embed (default: sequence_length); must be >= sequence_length.",
    )

    @model_validator(mode="after")
    def _heads_divide_width(self) -> TrainModelConfig:
        if self.width % self.heads:
            raise ValueError(f"width ({self.width}) must be a multiple of heads ({self.heads})")
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
        None, ge=1, description="Training steps (default: curriculum.num_steps)."
    )
    checkpoint_every: ConfigInt | None = Field(
        None, ge=1, description="Steps between checkpoints (default: only at the end)."
    )
    keep_checkpoints: ConfigInt = Field(
        2, ge=1, description="Checkpoints kept in the run directory (the newest)."
    )
    log_every: ConfigInt = Field(10, ge=1, description="Steps between progress lines.")
    num_threads: ConfigInt | None = Field(
        None,
        ge=1,
        description="torch CPU threads per process (null: torch's default). Losses repeat bit for bit only "
        "with the same number.",
    )
