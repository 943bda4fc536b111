"""MerA: merging pretrained adapters for few-shot learning (He et al. 2023, arXiv 2308.15982). Spec:
papers/mera.md; notebook notebooks/04_mera.ipynb."""
from .data import STSB_THRESHOLD, fewshot_indices, fewshot_task, sources_for
from .fusion import Fusion, FusionNorm, StackedAdapters, adapter_parameters, fusion_parameters, insert_fusion
from .merge import (
    COSTS,
    METHODS,
    SOLVERS,
    align,
    apply_plan,
    cost_matrix,
    merge,
    merge_modules,
    noisy_permuted,
    permute,
    recovered_share,
    transport_plan,
)
from .sources import adapter_model, full_model, fusion_model

__all__ = ["COSTS", "METHODS", "SOLVERS", "STSB_THRESHOLD", "Fusion", "FusionNorm", "StackedAdapters",
           "adapter_model", "adapter_parameters", "align", "apply_plan", "cost_matrix", "fewshot_indices",
           "fewshot_task", "full_model", "fusion_model", "fusion_parameters", "insert_fusion", "merge",
           "merge_modules", "noisy_permuted", "permute", "recovered_share", "sources_for", "transport_plan"]
