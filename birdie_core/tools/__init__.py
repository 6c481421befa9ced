"""Public tools for plugin authors: everything a first-party plugin uses from the core beyond ``birdie_core``.

- :mod:`.objectives`: budget arithmetic (``room``, ``copy_length``, ``fit_length``, the cost of span
  corruption) and the config field types and validators objectives share (``IntRange``, ``MarkerName``).
- :mod:`.noise`: T5 span noise, vectorised: masks, sentinel and marker corruption, span shuffles, keeping
  noise off positions that must not become targets.
- :mod:`.corruption`: infilling (T5) and autoencoding (BART) objectives over any kind of token.
- :mod:`.selective_copying`: the selective-copying objective, for any way of placing spans.
- :mod:`.tokenizers`: the reserved-id layout (pad, sentinels, markers), a tokenizer base implementing it, and
  ``token_texts`` (the text of each id of an array, for any tokenizer).
- :mod:`.files`: path and glob expansion with errors a user can act on; plain or gzip-compressed files.
- :mod:`.shuffle`: deterministic, resumable shuffling for sources (per-epoch permutations, a shuffle buffer).

Plugins import the core only through ``birdie_core``, ``birdie_core.tools`` and ``birdie_core.testing``
(a test in the core's suite checks this for the first-party plugins and the example plugin).
"""

from birdie_core.tools.corruption import (
    AutoencodingObjective,
    InfillingObjective,
    MaskedSpansConfig,
    SpanNoiseConfig,
    SpanNoiseObjective,
)
from birdie_core.tools.files import (
    GZIP_ERRORS,
    UNREAD_COMPRESSIONS,
    expand_paths,
    has_glob,
    open_compressed,
)
from birdie_core.tools.noise import (
    NoiseSpans,
    marker_corruption,
    mask_runs,
    noise_counts,
    noise_mask_avoiding,
    random_partition,
    random_spans,
    random_spans_noise_mask,
    replace_spans_with_marker,
    replace_spans_with_sentinels,
    segment_gather_index,
    sentinel_corruption,
    splice_sentinel_targets,
)
from birdie_core.tools.objectives import (
    IntRange,
    MarkerName,
    check_length_allows,
    check_mean_span_fits,
    copy_length,
    fit_length,
    marker_corruption_cost,
    room,
    sentinel_corruption_cost,
)
from birdie_core.tools.selective_copying import (
    Placement,
    SelectiveCopyingObjective,
    SelectiveCopyingObjectiveConfig,
)
from birdie_core.tools.shuffle import epoch_permutation, epoch_rng, shuffle_buffer
from birdie_core.tools.tokenizers import ReservedIds, ReservedIdsTokenizer, token_texts

__all__ = [
    "GZIP_ERRORS",
    "UNREAD_COMPRESSIONS",
    "AutoencodingObjective",
    "InfillingObjective",
    "IntRange",
    "MarkerName",
    "MaskedSpansConfig",
    "NoiseSpans",
    "Placement",
    "ReservedIds",
    "ReservedIdsTokenizer",
    "SelectiveCopyingObjective",
    "SelectiveCopyingObjectiveConfig",
    "SpanNoiseConfig",
    "SpanNoiseObjective",
    "check_length_allows",
    "check_mean_span_fits",
    "copy_length",
    "epoch_permutation",
    "epoch_rng",
    "expand_paths",
    "fit_length",
    "has_glob",
    "marker_corruption",
    "marker_corruption_cost",
    "mask_runs",
    "noise_counts",
    "noise_mask_avoiding",
    "open_compressed",
    "random_partition",
    "random_spans",
    "random_spans_noise_mask",
    "replace_spans_with_marker",
    "replace_spans_with_sentinels",
    "room",
    "segment_gather_index",
    "sentinel_corruption",
    "sentinel_corruption_cost",
    "shuffle_buffer",
    "splice_sentinel_targets",
    "token_texts",
]
