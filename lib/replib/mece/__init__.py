"""MECE: curriculum RL via morphology-environment co-evolution (Ao et al. 2023; no public code, reconstructed).
Spec: papers/mece.md; notebook notebooks/10_mece.ipynb. ``morphology`` (the hopper as MJCF, bounds, terrain),
``env`` (MorphEnv, the lockstep MorphEnvBatch, held-out evaluation), ``curriculum`` (return logs, r_m, r_e, the
learning signals), ``scheduler`` (plateau scheduler, fixed alternation), ``design`` (pi_m, pi_e and the ablations'
stand-ins), ``coevolve`` (one run's design side), ``experiment`` (the SAC ensemble), ``claims``, ``config``."""
