"""ERC: eigensubspace regularized critic (He et al., ECML-PKDD 2023). Spec: papers/erc.md."""
from .regularizer import FORMS, clip_radius, erc_regularizer
from .tabular import (
                      cos_to_ones,
                      dist_to_ones,
                      iteration_eigenvalues,
                      policy_transition,
                      q_pi,
                      random_mdp,
                      ring_mdp,
                      run_tabular,
                      td_errors,
)

__all__ = ["FORMS", "clip_radius", "cos_to_ones", "dist_to_ones", "erc_regularizer", "iteration_eigenvalues",
           "policy_transition", "q_pi", "random_mdp", "ring_mdp", "run_tabular", "td_errors"]
