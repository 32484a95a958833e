"""Checkpoint files from elsewhere: read without running code (:mod:`.reading`), and the public SE weights as
mmengine checkpoint sources, ``timm://`` and ``pretrainedmodels://`` (:mod:`.sources`). Importing se_plugins
registers both with mmengine's ``CheckpointLoader``."""
from .reading import (TRUST_VARIABLE, UnsafeCheckpointError, allowed_globals, is_safetensors, read_checkpoint,
                      register_safe_local_loading, safetensors_problem)
from .sources import SCHEMES, WeightsSourceError, fetch, is_source, load_from_public_se_weights, register_weight_sources

__all__ = [
    'TRUST_VARIABLE', 'UnsafeCheckpointError', 'allowed_globals', 'is_safetensors', 'read_checkpoint',
    'register_safe_local_loading', 'safetensors_problem', 'SCHEMES', 'WeightsSourceError', 'fetch', 'is_source',
    'load_from_public_se_weights', 'register_weight_sources'
]
