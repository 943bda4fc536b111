"""MEO: Merging Experts into One (He et al., EMNLP 2023). See notebooks/01_meo.ipynb."""
from .config import Config, get_config
from .flops import BERT_SIZES, BertDims, flops, flops_breakdown, token_att_flops
from .gating import NoisyTopKGate, cv_squared, prob_in_top_k
from .layers import MoEFFN, MoELinear, RoutingState, TokenAtt, meo_apply, meo_merge, moe_apply
from .model import MoEClassifier, moe_layers, split_encoder, upcycle_bert

__all__ = [
    "Config", "get_config", "BERT_SIZES", "BertDims", "flops", "flops_breakdown", "token_att_flops",
    "NoisyTopKGate", "cv_squared", "prob_in_top_k", "MoEFFN", "MoELinear", "RoutingState", "TokenAtt",
    "meo_apply", "meo_merge", "moe_apply", "MoEClassifier", "moe_layers", "split_encoder", "upcycle_bert",
]
