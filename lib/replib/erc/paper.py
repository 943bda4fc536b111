"""The paper's reported DMC scores, as the spec (papers/erc.md Sec. 4) parses them from the official curves.

Final points of the smoothed mean curves at 1e6 environment steps, read from
``data/ERC_performance_curves.svg`` of sweetice/ERC-ECML-23 (about 1% pixel error); the curve CSV the
repository references is empty. These are the paper's numbers, shown beside ours; nothing here is
computed by this workbook.
"""
from __future__ import annotations

import pandas as pd

METHODS = ("ERC", "TQC", "REDQ", "SAC", "TD3")
STEPS = 1_000_000

_SCORES = """
acrobot-swingup 159.4 121.2 30.7 22.6 7.8
ball_in_cup-catch 979.5 980.1 978.5 978.9 977.9
cartpole-balance 998.6 993.7 982.0 997.7 997.2
cartpole-balance_sparse 969.7 967.1 931.9 958.0 994.4
cartpole-swingup 867.3 873.1 825.6 864.4 865.3
cartpole-swingup_sparse 540.6 780.1 373.9 219.7 148.7
cheetah-run 896.4 837.9 608.1 864.2 798.4
finger-spin 988.0 976.7 932.7 963.4 942.9
finger-turn_easy 973.7 247.4 971.1 899.8 817.9
finger-turn_hard 949.5 285.2 915.0 899.0 633.1
fish-swim 461.7 508.3 139.4 300.0 246.6
fish-upright 924.8 923.0 791.4 898.5 856.0
hopper-hop 387.0 209.4 55.6 100.1 41.8
hopper-stand 940.4 927.1 382.2 600.3 523.2
humanoid-run 126.3 102.7 56.6 88.7 15.3
humanoid-stand 682.2 504.0 407.7 521.3 106.0
humanoid-walk 466.5 416.4 231.3 256.9 37.3
pendulum-swingup 845.1 839.4 393.9 225.7 321.6
point_mass-easy 840.3 791.1 866.0 888.4 859.9
reacher-easy 983.1 956.0 973.7 976.9 967.4
reacher-hard 979.7 955.9 961.4 964.5 945.6
swimmer-swimmer15 286.5 262.3 170.8 251.2 239.4
swimmer-swimmer6 424.9 342.8 204.2 351.9 281.7
walker-run 802.5 768.5 588.6 760.5 702.6
walker-stand 987.0 985.8 972.6 985.4 983.6
walker-walk 974.4 973.0 957.9 971.8 966.1
"""
PAPER_TASKS = tuple(line.split()[0] for line in _SCORES.strip().splitlines())
"""The paper's 26 tasks: ``overrides={"tasks": PAPER_TASKS}`` runs the whole set (many GPU hours at 1e6 steps)."""

PAPER_MEANS = {"ERC": 747.5, "TQC": 674.2, "REDQ": 604.0, "SAC": 646.5, "TD3": 587.6}
"""The spec's means over the 26 tasks (the test checks the table reproduces them)."""


def paper_scores() -> pd.DataFrame:
    """26 tasks x (ERC, TQC, REDQ, SAC, TD3) returns at 1e6 steps, indexed by ``domain-task``."""
    rows = [line.split() for line in _SCORES.strip().splitlines()]
    return pd.DataFrame([[float(x) for x in r[1:]] for r in rows], index=[r[0] for r in rows],
                        columns=list(METHODS)).rename_axis("task")
