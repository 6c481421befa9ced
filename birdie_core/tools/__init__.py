"""Public tools for plugin authors: span noise (:mod:`.noise`) and objective helpers (:mod:`.objectives`).

Everything a first-party plugin uses from the core is public and importable from here; plugins import
nothing else of the core but ``birdie_core`` itself and ``birdie_core.testing``.
"""

from birdie_core.tools.noise import (
    NoiseSpans,
    marker_corruption,
    mask_runs,
    noise_counts,
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
    fit_length,
    marker_corruption_cost,
    room,
    sentinel_corruption_cost,
)

__all__ = [
    "IntRange",
    "MarkerName",
    "NoiseSpans",
    "check_length_allows",
    "check_mean_span_fits",
    "fit_length",
    "marker_corruption",
    "marker_corruption_cost",
    "mask_runs",
    "noise_counts",
    "random_partition",
    "random_spans",
    "random_spans_noise_mask",
    "replace_spans_with_marker",
    "replace_spans_with_sentinels",
    "room",
    "segment_gather_index",
    "sentinel_corruption",
    "sentinel_corruption_cost",
    "splice_sentinel_targets",
]
