"""A demo corpus the project renders itself: speech, music and noise with known labels.

Nothing is downloaded. Music is generated as scores and rendered through a General MIDI
soundfont (``pretty_midi`` + ``tinysoundfont`` + the ``TimGM6mb.sf2`` that ships in the
``pretty_midi`` wheel); speech, babble and sung syllables come from eSpeak NG (the
``espeakng-loader`` wheel); six "datasets" differ in content and in recording chain (rate, band,
room, background noise, compression, lossy codec, level). Everything is deterministic from a
seed. Install the renderers with ``pip install 'speechmusic[demo]'``.

* :func:`build_corpus` writes WAV clips and ``manifest.csv`` for the paper's tasks (speech /
  music on seen and unseen datasets, accompaniment, singer gender, ensemble size);
  :func:`task_manifest` reads one task back as a :class:`speechmusic.data.Manifest`.
* :func:`render_programme` makes a broadcast-like recording with its ground-truth segments,
  to score the segmenter; :func:`write_programme` writes both to disk.
"""

from __future__ import annotations

from speechmusic.demo._deps import LICENCES, DemoUnavailableError, renderer_versions
from speechmusic.demo.corpus import (
    DATASETS,
    MANIFEST_COLUMNS,
    SIZES,
    TASKS,
    CorpusSize,
    DemoDataset,
    Task,
    build_corpus,
    corpus_info,
    read_manifest,
    task_manifest,
)
from speechmusic.demo.programme import PROGRAMME_LABELS, render_programme, write_programme

__all__ = ["build_corpus", "render_programme", "write_programme", "task_manifest",
           "read_manifest", "corpus_info", "DATASETS", "TASKS", "SIZES", "CorpusSize", "DemoDataset", "Task",
           "MANIFEST_COLUMNS", "PROGRAMME_LABELS", "LICENCES", "DemoUnavailableError",
           "renderer_versions"]
