"""MEO: Merging Experts into One (He et al., EMNLP 2023). See notebooks/01_meo.ipynb."""
from ..nn.glue import split_encoder
from ..nn.moe import NoisyTopKGate, cv_squared, prob_in_top_k
from .config import Config, get_config
from .flops import BERT_SIZES, BertDims, flops, flops_breakdown, token_att_flops
from .layers import (
    MoEFFN,
    MoELinear,
    RoutingState,
    TokenAtt,
    meo_apply,
    meo_merge,
    moe_apply,
)
from .model import MoEClassifier, moe_layers, upcycle_bert

__all__ = [
    "BERT_SIZES",
    "BertDims",
    "Config",
    "MoEClassifier",
    "MoEFFN",
    "MoELinear",
    "NoisyTopKGate",
    "RoutingState",
    "TokenAtt",
    "cv_squared",
    "flops",
    "flops_breakdown",
    "get_config",
    "meo_apply",
    "meo_merge",
    "moe_apply",
    "moe_layers",
    "prob_in_top_k",
    "split_encoder",
    "token_att_flops",
    "upcycle_bert",
]
