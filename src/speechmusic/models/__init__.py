"""The paper's architectures as one model family, checkpoints, and INA's published weights.

``build_model(name, *, n_classes, input_shape, **params)`` builds one of :func:`list_models`:
``ina``, ``swishnet``, ``vgg``, ``dnn``, ``mlp_head``. Every model takes
``[batch, *input_shape]`` (``input_shape = FeatureConfig.patch_shape``, i.e.
``(n_features, patch_frames)``), returns logits, and offers ``predict_proba``, ``embed`` (the
paper's red line), ``embedding_size``, ``replace_classifier`` and ``set_trainable`` (``frozen``,
``intermediate`` from the green line on, ``full``).
"""

from speechmusic.models.base import TRAINABLE_STRATEGIES, SpeechMusicModel
from speechmusic.models.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from speechmusic.models.dense import DenseBaseline, MlpHead
from speechmusic.models.ina import (
    INA_LABELS,
    INA_VARIANTS,
    InaNet,
    ina_from_keras,
    standardize_patches,
)
from speechmusic.models.ina_weights import (
    cache_dir,
    import_ina,
    ina_checkpoint_path,
    ina_wheel_path,
    load_ina_pretrained,
)
from speechmusic.models.registry import build_model, list_models, model_class
from speechmusic.models.swishnet import SwishNet
from speechmusic.models.vgg import VggLike

__all__ = [
    "TRAINABLE_STRATEGIES",
    "Checkpoint",
    "DenseBaseline",
    "INA_LABELS",
    "INA_VARIANTS",
    "InaNet",
    "MlpHead",
    "SpeechMusicModel",
    "SwishNet",
    "VggLike",
    "build_model",
    "cache_dir",
    "import_ina",
    "ina_checkpoint_path",
    "ina_from_keras",
    "ina_wheel_path",
    "list_models",
    "load_checkpoint",
    "load_ina_pretrained",
    "model_class",
    "save_checkpoint",
    "standardize_patches",
]
