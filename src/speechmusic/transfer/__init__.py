"""Transfer learning: embedders (checkpoints, INA, YAMNet, OpenL3), embedding baselines (the
paper's classifier on them, :mod:`speechmusic.transfer.baseline`), embedding files, Table 2 runs.

    from speechmusic.transfer import load_embedder, run_transfer, load_transfer_config
    emb, ts = load_embedder("ina").embed(audio_16k)          # [frames, 512], seconds
    result = run_transfer(load_transfer_config("experiments/paper-transfer.yaml"), "runs/t")

YAMNet (:mod:`speechmusic.transfer.yamnet`) and OpenL3 (:mod:`speechmusic.transfer.openl3`) are
imported on demand; YAMNet needs the ``embeddings`` extra.
"""

from speechmusic.transfer.baseline import EmbeddingBaseline, EmbeddingHead, open_baselines
from speechmusic.transfer.config import (
    EmbedderSpec,
    PretrainSpec,
    TargetSpec,
    TransferConfig,
    load_transfer_config,
)
from speechmusic.transfer.embed import (
    EmbedFailure,
    EmbedReport,
    embed_files,
    embed_manifest,
    read_embedding_store,
)
from speechmusic.transfer.embedders import (
    EMBEDDER_KINDS,
    CheckpointEmbedder,
    Embedder,
    InaEmbedder,
    as_audio,
    load_embedder,
)
from speechmusic.transfer.report import (
    table2_csv,
    table2_figure,
    table2_markdown,
    table2_rows,
    transfer_report_part,
    write_transfer_report,
)
from speechmusic.transfer.runner import (
    EmbeddingCache,
    TransferResult,
    build_spec_embedder,
    embedding_feature_config,
    run_transfer,
    transfer_model,
)

__all__ = [
    "EMBEDDER_KINDS",
    "CheckpointEmbedder",
    "EmbedFailure",
    "EmbedReport",
    "Embedder",
    "EmbedderSpec",
    "EmbeddingBaseline",
    "EmbeddingCache",
    "EmbeddingHead",
    "InaEmbedder",
    "PretrainSpec",
    "TargetSpec",
    "TransferConfig",
    "TransferResult",
    "as_audio",
    "build_spec_embedder",
    "embed_files",
    "embed_manifest",
    "embedding_feature_config",
    "load_embedder",
    "load_transfer_config",
    "open_baselines",
    "read_embedding_store",
    "run_transfer",
    "table2_csv",
    "table2_figure",
    "table2_markdown",
    "table2_rows",
    "transfer_model",
    "transfer_report_part",
    "write_transfer_report",
]
