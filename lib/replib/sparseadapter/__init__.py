"""SparseAdapter: adapters pruned at initialisation (He et al., Findings EMNLP 2022). Spec:
papers/sparseadapter.md; notebook notebooks/03_sparseadapter.ipynb."""
from ..nn.adapters import (
    BottleneckAdapter,
    add_masks,
    insert_adapters,
    insert_lora,
    masked_modules,
    masks_of,
    set_masks,
    stored_weights,
)
from .model import FAMILIES, adapter_classifier, adapter_encoder, parameter_counts
from .prune import (
    SCOPES,
    density,
    epoch_densities,
    large_sparse,
    mask_counts,
    prune,
    prune_batch_size,
    prune_indices,
    prune_masks,
    round_densities,
)
from .pruners import PRUNERS, SYNFLOW_PROBES, compute_scores

__all__ = ["FAMILIES", "PRUNERS", "SCOPES", "SYNFLOW_PROBES", "BottleneckAdapter", "adapter_classifier",
           "adapter_encoder", "add_masks", "compute_scores", "density", "epoch_densities", "insert_adapters",
           "insert_lora", "large_sparse", "mask_counts", "masked_modules", "masks_of", "parameter_counts", "prune",
           "prune_batch_size", "prune_indices", "prune_masks", "round_densities", "set_masks", "stored_weights"]
