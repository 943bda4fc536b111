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
# # 08 · MADAug — a model-adaptive data augmentation curriculum
#
# Hou, Zhang, Zhou. *When to Learn What: Model-Adaptive Data Augmentation Curriculum.* ICCV 2023
# (arXiv 2309.04747). Official code: `JackHck/MADAug` (`main_higher.py`, `adaptive_augmentor.py`, `operation.py`).
#
# **The claim.** A policy network $h$ reads the task model's features of each image and picks its augmentation
# ("what"); a curriculum decides how much of each batch is augmented ("when"). Trained single-stage and bi-level,
# MADAug beats or matches the augmentation baselines (AutoAugment, RandAugment, TrivialAugment, AdaAug, ...), is
# fairer (the gain is larger for difficult classes) and its policy moves from easy to hard augmentations.
#
# The method lives in `replib.madaug` (ops, policy, baselines, model); this notebook trains and plots.

# %% tags=["parameters"]
profile: str = "quick"   # smoke | quick | full
device: str = "auto"     # auto | cpu | cuda | cuda:N
seed: int = 0            # first seed; runs use seed .. seed+n_seeds-1
out_dir: str = ""        # "" -> figures/08_madaug
overrides: dict = {}     # Config fields to override, e.g. {"epochs": 4}

# %%
import matplotlib.pyplot as plt
import numpy as np

from replib import assets, plotting, report, runtime
from replib.madaug import OP_NAMES, experiment
from replib.madaug.baselines import LABELS
from replib.madaug.claims import fairness_table
from replib.madaug.config import get_config, required_assets
from replib.madaug.data import CLASSES

run = runtime.start_run("madaug", profile=profile, device=device, seed=seed, out_dir=out_dir)
cfg = get_config(profile, **overrides)
assets.require(required_assets(cfg), profile)   # every dataset first: one error names all that are missing
plotting.use_style()
cfg

# %% [markdown]
# ## The method, as `main_higher.py` does it (with `bi_epochs = 0`)
#
# **Ops.** 17 ops of `operation.py`, level $\ell \in [0, 1]$ mapped to $v = \ell\,(high - low) + low$ with the
# official ranges, batched in torch (`replib.madaug.ops`, equal to PIL within 1/255; `tests/unit/test_madaug_ops.py`).
# **Policy.** $a = h(f(x))$, one linear layer; magnitudes $m = \sigma(a_{1:K})$, probabilities
# $p = \mathrm{softmax}(a_{K+1:2K} / T)$; the task model in eval mode, on un-normalised images.
# **Exploit.** $k = 2$ ops drawn without replacement from $p$, each at $m \pm U(0, \delta)$ clipped to $[0, 1]$,
# on the first $\lfloor \mathrm{split}(e)\,B \rfloor$ images, $\mathrm{split}(e) = \min(\tanh(e / 40) + 0.01, 1)$;
# then normalisation and Cutout(16).
# **Explore** (every `search_freq` steps): every image through every op with the straight-through estimator,
# mixed in pixel space $\tilde x_i = \sum_k p_{ik}\, t_{ik}$; one differentiable SGD-momentum step
# $w' = w - \eta\,(\mu b + \nabla_w L_{tr}(w; \tilde x(h)) + \lambda w)$ (`torch.func`, no `higher`); the clean
# validation loss $L_{val}(w')$ back to $h$ (exact second order), an Adam step on $h$:
# $\min_h L_{val}(w - \eta \nabla_w L_{tr}(w; \tilde x(h)))$.
#
# **Our choices** (config fields; the spec leaves them open or the budget forces them):
#
# | | official | here (quick) |
# |---|---|---|
# | task model | WRN-28-10, 240 epochs | WRN-`depth`-`widen`, `epochs` (full: WRN-28-10, 240) |
# | reduced CIFAR-10 | 4,256 train (stratified, random_state 0) | `n_train`, same split (\*) |
# | search set | the other 45,744 | `n_search`, stratified from the rest |
# | curriculum constant | 40 of 240 epochs | `threshold * curriculum_scale` (epochs / 240: the same share) |
# | explore batch | the whole training batch | its first `explore_batch` images (full: all) |
# | warm-up | x2 over 5 epochs | x2 over `warmup_epochs` |
# | baselines | their own op lists | RandAugment (N = 2) and TrivialAugment on the same 17 ops, + Cutout(16) |
# | second set | reduced SVHN (1,000) | reduced Fashion-MNIST (`n_train_fashion`, grey replicated to 3 channels) |
#
# (\*) of our JPEG copy, stored in class order: the same random_state selects other (equally stratified) images.

# %%
print(experiment.__doc__.split("\n\n")[1])
results = experiment.run(cfg, run.device, seed=run.seed)
runs, classes, curves, heatmap = results["runs"], results["classes"], results["curves"], results["heatmap"]
summary = experiment.summarise(runs)
summary.pivot(index="method", columns="dataset", values="mean").reindex(cfg.methods).round(2)

# %% [markdown]
# ## F1 · Test accuracy of every method
#
# Every method trains the same WRN from the same initialisation and batch order per seed; bars are the mean over
# seeds, whiskers one standard deviation.

# %%
sets = list(cfg.datasets)
fig, ax = plotting.new_figure(width=7.5, height=3.6)
width = 0.8 / len(cfg.methods)
for j, (m, color) in enumerate(zip(cfg.methods, plotting.OKABE_ITO * 2)):
    s = summary[summary.method == m].set_index("dataset").reindex(sets)
    xs = np.arange(len(sets)) + (j - (len(cfg.methods) - 1) / 2) * width
    ax.bar(xs, s["mean"], width, yerr=s["std"].fillna(0), color=color, label=LABELS[m])
ax.set_xticks(range(len(sets)), [f"reduced {d}" for d in sets])
ax.set(ylabel="test accuracy (%)", title=f"WRN-{cfg.depth}-{cfg.widen}, {cfg.epochs} epochs, {cfg.seeds} seed(s)")
ax.legend(fontsize=7, ncol=4)
report.save_figure(fig, "accuracy", run)

# %% [markdown]
# ## F2 · The curriculum: policy strength and split rate by epoch
#
# Strength of one op drawn from the policy, $\sum_k p_k\,\mathrm{strength}_k(m_k)$ (identity at level 0.5 for the
# geometric ops and the blends, at 1 for Solarize/Posterize, at 0 for Cutout; `ops.strength`), averaged over each
# epoch's batches at temperature $T$; the never-trained policy (w/o bi-level) is the control: its strength moves
# only with the task model's features.

# %%
fig, axes = plotting.new_figure(ncols=len(sets), width=4.2 * len(sets), height=3.3)
for ax, d in zip(plotting.axes_list(axes), sets):
    c = curves[curves.dataset == d]
    for m, color in (("madaug", plotting.OKABE_ITO[0]), ("madaug_nobilevel", plotting.GREY)):
        st = c[c.method == m].pivot(index="seed", columns="epoch", values="strength")
        if len(st):
            plotting.mean_band(ax, st.columns, st.to_numpy(), label=f"strength, {LABELS[m]}", color=color)
    split = c[c.method == "madaug"].groupby("epoch").split.first()
    ax2 = ax.twinx()
    ax2.plot(split.index, split.to_numpy(), ":", color=plotting.OKABE_ITO[1], label="split rate")
    ax2.set(ylim=(0, 1.05), ylabel="split rate")
    ax.set(title=f"reduced {d}", xlabel="epoch", ylabel="policy strength")
    ax.legend(fontsize=7, loc="lower right")
report.save_figure(fig, "curriculum", run)

# %% [markdown]
# ## F3 · Fairness: per-class gain over no-aug against the class's difficulty
#
# The difficulty of a class is its no-aug accuracy **in the other seeds' runs** (cross-fitted): plotting the gain
# against the same run's no-aug accuracy would slope down by regression to the mean even for a method that changes
# nothing.

# %%
fair = fairness_table(classes)
fig, axes = plotting.new_figure(ncols=len(sets), width=4.2 * len(sets), height=3.3)
for ax, d in zip(plotting.axes_list(axes), sets):
    f = fair[fair.dataset == d].groupby("class")[["gain", "difficulty"]].mean()
    ax.scatter(f.difficulty, f.gain, color=plotting.OKABE_ITO[0])
    for cls, row in f.iterrows():
        ax.annotate(CLASSES[d][cls], (row.difficulty, row.gain), fontsize=7)
    ax.axhline(0, color=plotting.GREY, lw=0.8)
    ax.set(title=f"reduced {d}", xlabel="no-aug class accuracy, other seeds (%)", ylabel="MADAug gain (points)")
report.save_figure(fig, "fairness", run)

# %% [markdown]
# ## F4 · What the policy picks, per class
#
# Mean op probability of $h$ ($T = 1$) over each test class at the end of training. The spec's criterion for this
# figure (a mirror-sensitive class should avoid Flip) needs a mirror-sensitive data set, which this run does not
# have: the heatmap is descriptive here.

# %%
fig, axes = plotting.new_figure(ncols=len(sets), width=5.5 * len(sets), height=3.6)
for ax, d in zip(plotting.axes_list(axes), sets):
    h = heatmap[(heatmap.dataset == d) & (heatmap.method == "madaug")]
    if len(h):
        grid = h.pivot_table(index="class", columns="op", values="p").reindex(columns=list(OP_NAMES))
        im = ax.imshow(grid.to_numpy(), aspect="auto", cmap="viridis")
        ax.set_xticks(range(len(OP_NAMES)), OP_NAMES, rotation=90, fontsize=6)
        ax.set_yticks(range(len(grid)), [CLASSES[d][c] for c in grid.index], fontsize=7)
        ax.grid(False)
        fig.colorbar(im, ax=ax, label="p")
    ax.set(title=f"reduced {d}: policy p per class")
report.save_figure(fig, "policy_heatmap", run)

# %% [markdown]
# ## F5 · Ablations, and what a MADAug epoch costs
#
# Paired differences (points) of full MADAug against each ablation, per (set, seed); the epoch time ratio against
# no-aug is this run's (CPU at quick; `benchmarks/bench_madaug.py` times the explore step alone).

# %%
fig, ax = plotting.new_figure(width=5.0, height=3.2)
base = runs[runs.method == "madaug"].set_index(["dataset", "seed"]).acc
for j, m in enumerate([m for m in cfg.methods if m != "madaug"]):
    diff = (base - runs[runs.method == m].set_index(["dataset", "seed"]).acc).dropna() * 100
    ax.scatter(np.full(len(diff), j), diff, color=plotting.OKABE_ITO[j % 8])
    ax.plot([j - 0.3, j + 0.3], [diff.mean()] * 2, color="black")
ax.axhline(0, color=plotting.GREY, lw=0.8)
others = [m for m in cfg.methods if m != "madaug"]
ax.set_xticks(range(len(others)), [LABELS[m] for m in others], rotation=30, fontsize=8)
ax.set(ylabel="MADAug - method (points)", title="paired by (set, seed)")
report.save_figure(fig, "ablations", run)
epoch_s = runs.groupby("method").epoch_s.mean()
print({m: round(float(epoch_s[m] / epoch_s["noaug"]), 2) for m in epoch_s.index}, "x the no-aug epoch")

# %%
metrics = {"accuracy": {f"{r.dataset}/{r.method}": {"mean": r["mean"], "std": None if np.isnan(r["std"]) else r["std"]}
                        for _, r in summary.iterrows()},                  # std: None with one seed
           "epoch_s": {m: float(v) for m, v in epoch_s.items()},
           "madaug_epoch_over_noaug": float(epoch_s.get("madaug", np.nan) / epoch_s["noaug"])}
claims = report.save_claims(run, cfg, **results)
report.save_metrics(run, cfg, metrics, seeds=list(range(run.seed, run.seed + cfg.seeds)))
plt.close("all")
report.claims_table(claims)

# %% [markdown]
# ## What we found
#
# Printed from the claims just computed (verdict, then the numbers behind it): at `smoke` only the exact claim is
# judged.

# %%
for c in claims:
    print(f"{c.id} [{c.kind}] {c.verdict}: {c.ours}\n    {c.note}\n")

# %% [markdown]
# ## Deviations from the paper and the official code
#
# - Scale: at `quick` a WRN-10-1 trains for a few epochs (`epochs`) on a few thousand images (`n_train`,
#   `n_train_fashion`) on two CPU cores; the paper trains WRN-28-10 for 240 epochs. Augmentation pays off late in long schedules, so at this
#   budget the baselines with stronger augmentation can trail no-aug: the verdicts describe this budget, not the
#   paper's.
# - `bi_epochs = 0` (the author's advice; the shipped 300 never trains the policy). The explore step sees the first
#   `explore_batch` images of each training batch at `quick` (the whole batch at `full`).
# - Our CIFAR-10 is a JPEG copy (quality ~75) in class order: the official `random_state` selects other images.
# - The official code clips inner-step gradients (no effect on `higher`'s fast weights) and runs anomaly detection
#   (a slowdown only); neither is reproduced. Reduced SVHN is not available offline; Fashion-MNIST replaces it.
