"""Datasets: clips and manifests, one adapter per dataset layout, grouped stratified splits.

    from speechmusic.data import DatasetSpec, load_dataset, make_folds
    clips = load_dataset(DatasetSpec(layout="musan", root="/data/musan", classes=["music", "speech"]))
    folds = make_folds(clips, n_folds=5, test_fraction=0.1, val_fraction=0.1, seed=0)
"""

from speechmusic.data.adapters import (
    DEFAULT_DROP_REASONS,
    DEFAULT_LABEL_MAPS,
    DatasetSpec,
    LeftOut,
    Survey,
    build_manifest,
    list_layouts,
    load_dataset,
    normalize_label,
    scan_audio,
    survey_dataset,
)
from speechmusic.data.check import DatasetReport, check_dataset, survey_report
from speechmusic.data.manifest import MANIFEST_COLUMNS, Clip, Manifest
from speechmusic.data.paper import PAPER_TABLE1, PaperDataset, paper_dataset
from speechmusic.data.splits import Split, balanced_indices, check_no_leak, group_units, make_folds

__all__ = [
    "DEFAULT_DROP_REASONS",
    "DEFAULT_LABEL_MAPS",
    "LeftOut",
    "PAPER_TABLE1",
    "PaperDataset",
    "Survey",
    "MANIFEST_COLUMNS",
    "Clip",
    "DatasetReport",
    "DatasetSpec",
    "Manifest",
    "Split",
    "balanced_indices",
    "build_manifest",
    "check_dataset",
    "check_no_leak",
    "group_units",
    "list_layouts",
    "load_dataset",
    "make_folds",
    "normalize_label",
    "paper_dataset",
    "scan_audio",
    "survey_dataset",
    "survey_report",
]
