"""The core's built-in components, registered through the same hooks a plugin uses (namespace ``core``)."""

from __future__ import annotations

from birdie_core.hookspecs import Register, hookimpl


@hookimpl
def birdie_register_tokenizers(register: Register) -> None:
    from birdie_core.builtins.huggingface import HuggingFaceTokenizer
    from birdie_core.builtins.sentencepiece import SentencePieceTokenizer
    from birdie_core.builtins.tokenizers import ByteTokenizer, TiktokenTokenizer

    register("bytes", ByteTokenizer)
    register("tiktoken", TiktokenTokenizer)
    # their libraries are imported when one is built, not here: the core works without the extras
    register("huggingface", HuggingFaceTokenizer)
    register("sentencepiece", SentencePieceTokenizer)


@hookimpl
def birdie_register_sources(register: Register) -> None:
    from birdie_core.builtins import sources

    register("embedded", sources.EmbeddedSource)
    register("files", sources.FileSource)
    register("callable", sources.CallableSource)
    register("huggingface", sources.HuggingFaceSource)
    from birdie_core.builtins.sources.tokenized import TokenizedSource

    register("tokenized", TokenizedSource)
    from birdie_core.evals.training import TaskSource

    register("task", TaskSource)  # instances of an evaluation task (birdie_core.evals), for fine-tuning


@hookimpl
def birdie_register_objectives(register: Register) -> None:
    from birdie_core.builtins.objectives import NextTokenPrediction, PrefixLM

    register("next_token_prediction", NextTokenPrediction)
    register("prefix_lm", PrefixLM)
    from birdie_core.evals.training import TaskAnswer

    register("task_answer", TaskAnswer)  # prompt -> answer of a `task` source's documents


@hookimpl
def birdie_register_packers(register: Register) -> None:
    from birdie_core.builtins.packers import BestFitPacker

    register("best_fit", BestFitPacker)


@hookimpl
def birdie_register_agents(register: Register) -> None:
    from birdie_core.builtins.agents import StaticAgent

    register("static", StaticAgent)
