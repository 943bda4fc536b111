# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,-all
#     formats: ipynb,py:percent
#     notebook_metadata_filter: kernelspec,jupytext,-jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 · PAD-Net — partially dynamic networks
#
# He, Ding, Tao, et al. *PAD-Net: An Efficient Framework for Dynamic Networks.* ACL 2023
# (arXiv 2211.05528). Official code: `Shwai-He/PAD-Net` (it does not run as released; this notebook is a
# working re-implementation from the formulas, `papers/padnet.md`).
#
# **The claim.** A fully dynamic network (every kernel an input-dependent mixture of K kernels) is
# redundant: keeping only a fraction $\kappa$ of the kernel positions dynamic and the rest static
# matches or beats it with far fewer parameters: **+0.7% top-1 with 30% dynamic** parameters on
# ResNet-50 (ImageNet) and **+1.9 GLUE with 50%** on a BERT MoE. Which positions stay dynamic is decided
# before training by Iterative Mode Partition (IMP), a SNIP-style importance score.
#
# The method lives in `replib.padnet`; this notebook trains small PAD ResNets on CIFAR-10 and
# Fashion-MNIST and plots.

# %% tags=["parameters"]
profile: str = "quick"   # smoke | quick | full
device: str = "auto"     # auto | cpu | cuda | cuda:N
seed: int = 0            # first seed; runs use seed .. seed+n_seeds-1
out_dir: str = ""        # "" -> figures/02_padnet
overrides: dict = {}     # Config fields to override, e.g. {"epochs": 2}

# %%
import matplotlib.pyplot as plt
import numpy as np

from replib import assets, plotting, report, runtime
from replib.padnet import experiment, param_count
from replib.padnet.claims import KAPPA_PRE, headline_metrics, paired_acc
from replib.padnet.config import get_config, required_assets

run = runtime.start_run("padnet", profile=profile, device=device, seed=seed, out_dir=out_dir)
cfg = get_config(profile, **overrides)
assets.require(required_assets(cfg), profile)   # every model and dataset first: one error names all that are missing
plotting.use_style()
cfg

# %% [markdown]
# ## The method
#
# **DY-Conv** (fully dynamic). Attention over $K$ kernels from the pooled input,
# $\alpha(x) = \mathrm{softmax}(\mathrm{FC_2}(\mathrm{ReLU}(\mathrm{FC_1}(\mathrm{GAP}(x))))/\tau)$, and the
# per-sample kernel $\tilde W(x) = \sum_k \alpha_k(x) W_k$; $\tau$ anneals from 30 to 1.
#
# **PAD DY-Conv.** A mask $M$ over kernel positions (shared by the $K$ kernels) and a static kernel
# $\bar W$ with its own initialisation:
#
# $$\hat W(x) = \lambda_d\, M \odot \tilde W(x) + \lambda_s\, (1 - M) \odot \bar W,\qquad
#   \lambda_d = 2\sigma(\phi),\ \lambda_s = 2 - \lambda_d,\ \phi_0 = 0 .$$
#
# $M = 1$ is DY-Conv, $M = 0$ a static conv. The layer holds $|W|(K\kappa + 1 - \kappa)$ intrinsic kernel
# parameters (`replib.padnet.param_count`): 1.9$|W|$ at $K = 4$, $\kappa = 0.3$, against $4|W|$ fully dynamic.
#
# **Iterative Mode Partition.** Starting from $M = 1$, for $t = 1..T$: score every mask entry by
# $s_j = |\sum \partial L / \partial M_j|$ on a few training batches (the first-order loss change of making
# position $j$ static), pool the scores of all layers, and keep the top $\kappa_t = \kappa^{t/T}$ dynamic.
# The whole batch runs as one grouped convolution (one kernel per sample); a per-sample loop is its
# reference in the tests.

# %% [markdown]
# ## Training every network
#
# For each dataset: the static network, PAD networks at each $\kappa$ (IMP, $T$ rounds) and the fully
# dynamic network, for every seed; then, on the ablation dataset, random partition, one-shot IMP and
# PAD without scale factors.

# %%
res = experiment.run(cfg, run.device, seed=run.seed)
results, lambdas = res["results"], res["lambdas"]
summary = experiment.summarise(results)
summary.round(2)

# %% [markdown]
# ## F1 · Accuracy against the dynamic ratio
#
# Static at $\kappa = 0$, fully dynamic at $\kappa = 1$; mean and standard deviation over seeds. The grey
# line (right axis) is the intrinsic parameter count of the convolution kernels relative to the static
# network, $K\kappa + 1 - \kappa$, as counted from the trained modules.

# %%
fig, axes = plotting.new_figure(ncols=len(cfg.datasets), width=4.8 * len(cfg.datasets), height=3.6)
for ax, ds in zip(plotting.axes_list(axes), cfg.datasets):
    d = summary[(summary.dataset == ds) & (summary.group == "sweep")].sort_values("kappa")
    pad = d[d.kind == "pad"]
    ax.errorbar(pad.kappa, pad.acc, yerr=pad["std"].fillna(0), marker="o", color=plotting.COLORS["method"],
                label="PAD-Net (IMP)", capsize=3)
    for kind, color in (("static", plotting.COLORS["dense"]), ("dynamic", plotting.COLORS["moe"])):
        r = d[d.kind == kind]
        ax.errorbar(r.kappa, r.acc, yerr=r["std"].fillna(0), marker="s", ls="", color=color, capsize=3,
                    label="static" if kind == "static" else "fully dynamic")
    ax.set(xlabel="dynamic ratio κ", ylabel="test accuracy (%)", title=ds)
    twin = ax.twinx()
    static_params = d[d.kind == "static"].params.iloc[0]
    twin.plot(d.kappa, d.params / static_params, color=plotting.GREY, ls="--", lw=1)
    twin.set_ylabel("kernel parameters / static", color=plotting.GREY)
    twin.grid(False)
plotting.axes_list(axes)[0].legend(fontsize=8, loc="lower right")
report.save_figure(fig, "accuracy_vs_ratio", run)
{k: param_count(1, cfg.num_kernels, k) for k in (0.0, *cfg.kappas, 1.0)}

# %% [markdown]
# ## F2 · Mode partition by importance against a random partition

# %%
ab = summary[summary.dataset == cfg.ablation_dataset]
imp = ab[(ab.group == "sweep") & (ab.kind == "pad") & ab.kappa.isin(cfg.random_kappas)].sort_values("kappa")
rnd = ab[ab.group == "random"].sort_values("kappa")
fig, ax = plotting.new_figure(width=5.2, height=3.6)
w = 0.035
ax.bar(imp.kappa - w / 2, imp.acc, w, yerr=imp["std"].fillna(0), color=plotting.COLORS["method"], label="IMP")
ax.bar(rnd.kappa + w / 2, rnd.acc, w, yerr=rnd["std"].fillna(0), color=plotting.COLORS["random"], label="random")
lo = min(imp.acc.min(), rnd.acc.min())
ax.set(xlabel="dynamic ratio κ", ylabel="test accuracy (%)", title=f"{cfg.ablation_dataset}: IMP vs random",
       ylim=(lo - 5, None), xticks=list(cfg.random_kappas))
ax.legend(fontsize=8)
report.save_figure(fig, "imp_vs_random", run)

# %% [markdown]
# ## F3, F4 · Iterative against one-shot partition, and the scale factors
#
# Left: at $\kappa$ = `ablation_kappa`, IMP with $T$ rounds, one round, and PAD without the scale factors
# ($\lambda_d = \lambda_s = 1$). Right: the mean $\lambda_d$ and $\lambda_s$ over the PAD layers after each
# epoch (they sum to exactly 2).

# %%
k0 = cfg.ablation_kappa
bars = {f"IMP T={cfg.rounds}": imp_ref if len(imp_ref := ab[(ab.group == "sweep") & (ab.kind == "pad")
                                                              & np.isclose(ab.kappa, k0)]) else None,
        "one shot (T=1)": ab[ab.group == "one_shot"], "no λ (both = 1)": ab[ab.group == "no_lambda"]}
fig, axes = plotting.new_figure(ncols=2, width=9.6, height=3.6)
names = [n for n, b in bars.items() if b is not None and len(b)]
axes[0].bar(names, [bars[n].acc.iloc[0] for n in names], yerr=[np.nan_to_num(bars[n]["std"].iloc[0]) for n in names],
            color=[plotting.COLORS["method"], plotting.COLORS["baseline"], plotting.COLORS["random"]][:len(names)])
axes[0].set(ylabel="test accuracy (%)", title=f"{cfg.ablation_dataset}, κ = {k0:g}",
            ylim=(min(bars[n].acc.iloc[0] for n in names) - 5, None))
for (ds, kappa, s), traj in sorted(lambdas.items()):
    if s == run.seed and ds == cfg.ablation_dataset:
        ep = np.arange(1, len(traj) + 1)
        axes[1].plot(ep, traj[:, 0], color=plotting.COLORS["method"], alpha=0.4 + 0.6 * kappa, label=f"λ_d κ={kappa:g}")
        axes[1].plot(ep, traj[:, 1], color=plotting.COLORS["moe"], alpha=0.4 + 0.6 * kappa, ls="--",
                     label=f"λ_s κ={kappa:g}")
axes[1].set(xlabel="epoch", ylabel="mean scale factor", title="λ_d (solid) and λ_s (dashed)")
axes[1].legend(fontsize=6, ncol=2)
report.save_figure(fig, "ablations", run)

# %% [markdown]
# ## F5 · PAD MoE on GLUE
#
# The top layer(s) of all-MiniLM-L6-v2 get their FFN linears upcycled into 8-expert top-2 MoEs whose
# experts share a static matrix $W_s$ and a mask $M$: $W_i^{eff} = \lambda_d M \odot W_i + \lambda_s (1-M)
# \odot W_s$ (the paper's `SingleExpert_Pad`; the released code trains a mask-free variant). Arms: the dense
# encoder, the fully dynamic MoE ($M = 1$) and PAD MoE at $\kappa$ = `moe_kappa`, partitioned by the
# official GLUE default (random): right after upcycling every expert equals $W_s$, so a SNIP score is zero.

# %%
glue = None
if cfg.glue:
    from replib.padnet import glue as glue_track
    glue = glue_track.run(cfg, run.device, seed=run.seed)
    fig, ax = plotting.new_figure(width=5.2, height=3.6)
    g = glue.groupby("arm", sort=False)["acc"]
    ax.bar(list(g.groups), g.mean() * 100, yerr=g.std().fillna(0) * 100,
           color=[plotting.COLORS["dense"], plotting.COLORS["moe"], plotting.COLORS["method"]])
    ax.set(ylabel="dev accuracy (%)", title=f"{cfg.glue_task}: dense, fully dynamic MoE, PAD MoE κ={cfg.moe_kappa:g}",
           ylim=(max(0, 100 * glue.acc.min() - 10), None))
    report.save_figure(fig, "moe_glue", run)
    glue.groupby("arm", sort=False)[["acc", "intrinsic_params", "train_s"]].mean()

# %% [markdown]
# ## Claims and verdicts
#
# Each verdict is computed from the measured numbers, never typed; `results.json` (one row per trained
# network and seed), `claims.json` and `metrics.json` are written next to the figures, and
# `python -m replib.report --check` rebuilds the claims from `results.json`.
#
# The criteria are stronger than the plan's (`papers/padnet.md` F1-F5), which compared means over two
# seeds ("best PAD kappa mean >= fully dynamic mean" would pass even if PAD did nothing: the best of five
# noisy means usually beats one):
# - Accuracy comparisons are **paired differences** (seed-paired; (dataset, seed)-paired for the sweep;
#   (kappa, seed)-paired for IMP vs random, pooled over the random kappas) with a 95% t interval and a
#   sign test (`replib.stats.paired`): reproduced only when the interval excludes 0 in the paper's
#   direction, not reproduced when it excludes 0 the other way, inconclusive otherwise.
# - `pad_matches_dynamic` uses the **pre-registered kappa = 0.3** (the paper's "30% dynamic"), not the
#   best of the sweep, and has a second check against the **static** network: if the dynamic part of a
#   PAD network did nothing, it would equal the static one, and the claim should not pass.
# - `param_count_formula` is exact: the paper's examples from the formula, and the kernel entries counted
#   from the built networks' tensors against $|W|(K\kappa + 1 - \kappa)$ with $|W|$ counted from the static
#   network and the configured kappa.
# - $\lambda_d + \lambda_s = 2$ holds by construction: a unit test, no longer a check.
# - With 2 seeds (`quick`) a t interval has 1 degree of freedom and is wide: "inconclusive" is then the
#   honest answer, and only more seeds (`full`: 3, or more by override) can decide. Two identical
#   differences give a zero-width interval; read the sign test next to it.

# %%
claims = report.save_claims(run, cfg, results=results, glue=glue)   # per-run rows: what make_claims reads
report.save_metrics(run, cfg, headline_metrics(cfg, results, glue), seeds=list(range(run.seed, run.seed + cfg.seeds)))
plt.close("all")
report.claims_table(claims)

# %% [markdown]
# ## What we found, and how it differs from the paper
#
# The paired differences behind the verdicts, printed from the same frames:

# %%
sw = results[results.group == "sweep"]


def arm(frame, keys, **where):
    m = np.ones(len(frame), bool)
    for k, v in where.items():
        m &= np.isclose(frame[k], v) if isinstance(v, float) else (frame[k] == v).to_numpy()
    return frame.loc[m, [*keys, "acc"]]


dk = ["dataset", "seed"]
for label, a, b in ((f"PAD kappa={KAPPA_PRE:g} - fully dynamic", arm(sw, dk, kind="pad", kappa=KAPPA_PRE),
                     arm(sw, dk, kind="dynamic")),
                    (f"PAD kappa={KAPPA_PRE:g} - static", arm(sw, dk, kind="pad", kappa=KAPPA_PRE),
                     arm(sw, dk, kind="static")),
                    ("fully dynamic - static", arm(sw, dk, kind="dynamic"), arm(sw, dk, kind="static"))):
    p = paired_acc(a, b, dk)
    if p is None:
        print(f"- {label}: not measured at this profile")
        continue
    word = ("is above 0" if p.lo is not None and p.lo > 0 else "is below 0" if p.hi is not None and p.hi < 0 else
            "contains 0: more seeds (`full`) are needed to decide")
    print(f"- {label}: {p.describe('points')}; the interval {word}.")
for c in claims:
    if c.kind == "measured" and c.id != "pad_matches_dynamic":
        print(f"- {c.id}: {c.verdict}; {c.note}")

# %% [markdown]
# How to read them:
#
# - **Scale.** At `quick` the networks are tiny ResNets (widths 8/16/32, one block per stage) trained for
#   a few epochs on 4,000 images resized to 16x16, on two CPU cores, with 2 seeds. The paper's gaps
#   (0.7-1.9 points) are of the order of the seed spread at this scale, so most paired intervals are
#   expected to contain 0; run `full` (whole datasets at full resolution, wider and deeper nets, 60
#   epochs, 3 seeds) on a GPU, with more seeds where it is still inconclusive.
# - **Static networks.** At this scale and budget the static network can beat every dynamic one (the
#   printed "fully dynamic - static" line): dynamic kernels add parameters and an attention that a few
#   epochs on a few thousand small images do not train well. The paper's PAD networks beat the static
#   ones too, which is why `pad_matches_dynamic` now checks against both.
# - **What is exact.** The parameter counts: the formula at the paper's examples, and the entries
#   counted from the networks' tensors against $|W|(K\kappa + 1 - \kappa)$. $\lambda_d + \lambda_s = 2$
#   holds by construction (the right panel of F3/F4; asserted in `tests/unit/test_padnet.py`).
# - **Deviations.** The attention bottleneck is $C_{in}/4$ at `quick` (the official $C_{in}/16$ leaves a
#   hidden size of 1 in 8-channel layers; `full` uses 16). IMP scores 4 batches of 128 images (official
#   10 x 256). The official repository's IMP never finds the masks (see the spec's defects), so it has no
#   released reference output to compare against.
# - **MoE.** One upcycled MiniLM layer on a 1,000-example subset of one task at `quick` (the paper: all of
#   BERT-base on all of GLUE). Random partition follows the official GLUE default; after upcycling, SNIP
#   has nothing to rank (every expert equals $W_s$), which the paper does not discuss.
