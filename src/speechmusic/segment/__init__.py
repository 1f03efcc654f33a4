"""Segmentation of long recordings: speech / music / noise / 'noEnergy', and speaker gender.

``Segmenter(engine="smn", gender=False)(path_or_array)`` returns a list of :class:`Segment`;
:func:`write_segments` / :func:`read_segments` handle csv, TextGrid, Audacity, RTTM and JSON.
"""

from speechmusic.segment.formats import (
    EXTENSIONS,
    FORMATS,
    Segment,
    format_segments,
    labels_on_grid,
    parse_segments,
    read_segments,
    write_segments,
)
from speechmusic.segment.segmenter import ENGINES, GRID_SECONDS, Analysis, Segmenter
from speechmusic.segment.sliding import patch_logits
from speechmusic.segment.viterbi import energy_activity, viterbi

__all__ = [
    "ENGINES",
    "EXTENSIONS",
    "FORMATS",
    "GRID_SECONDS",
    "Analysis",
    "Segment",
    "Segmenter",
    "energy_activity",
    "format_segments",
    "labels_on_grid",
    "parse_segments",
    "patch_logits",
    "read_segments",
    "viterbi",
    "write_segments",
]
