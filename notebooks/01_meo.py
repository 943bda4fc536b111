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
# # 01 · MEO — Merging Experts into One
#
# He, Fan, Ding, Shen, Zhou, Tao. *Merging Experts into One: Improving Computational Efficiency of
# Mixture of Experts.* EMNLP 2023 (arXiv 2310.09832). Official code: `Shwai-He/MEO`.
#
# **The claim.** Selecting several experts per input helps a mixture of experts, but vanilla MoE pays
# for every selected expert. MEO merges the selected experts' weights by their gates and runs *one*
# matmul, so the cost stays that of a single expert: for BERT-base with k=4 the forward FLOPs fall
# from **72.0G (vanilla MoE) to 28.6G (MEO)**. At token level, a small token attention block lets MEO
# beat vanilla token-level MoE on GLUE (**83.3 vs 82.6** average).
#
# This notebook regenerates the headline FLOPs figure, times both layers on this machine, fine-tunes
# an upcycled pretrained encoder on GLUE at several k, and compares the token-level variants. The
# method lives in `replib.meo`; this notebook only drives it and plots.

# %% tags=["parameters"]
profile: str = "quick"   # smoke | quick | full
device: str = "auto"     # auto | cpu | cuda | cuda:N
seed: int = 0            # first seed; runs use seed .. seed+n_seeds-1
out_dir: str = ""        # "" -> figures/01_meo
overrides: dict = {}     # Config fields to override, e.g. {"epochs": 1}

# %%
import matplotlib.pyplot as plt

from replib import assets, plotting, report, runtime
from replib.meo import experiment
from replib.meo.claims import K_PRE, headline_metrics, meo_moe_gap, paired_acc
from replib.meo.config import get_config, required_assets

run = runtime.start_run("meo", profile=profile, device=device, seed=seed, out_dir=out_dir)
cfg = get_config(profile, **overrides)
assets.require(required_assets(cfg), profile)   # every model and dataset first: one error names all that are missing
plotting.use_style()
cfg

# %% [markdown]
# ## The method, as the official code does it
#
# Only the two FFN linears of each layer become mixtures of $n$ bias-free linear experts
# $W \in \mathbb{R}^{n \times d_{out} \times d_{in}}$, each linear with **its own router**; the GELU stays
# outside. The router is Shazeer et al.'s noisy top-k gate on a routing input $u$:
#
# $$h = u W_g,\qquad H = h + \epsilon \odot (\mathrm{softplus}(u W_{noise}) + 0.01),\qquad
#   G = \mathrm{softmax}(\mathrm{TopK}(H, k)),$$
#
# with $W_g = W_{noise} = 0$ at initialisation, and a per-layer balance loss
# $0.01\,(\mathrm{cv}^2(\text{importance}) + \mathrm{cv}^2(\text{load}))$ added to the task loss.
# At **sequence level** $u$ is the mean of the layer input over all positions (padding included, as in
# the official code). Then
#
# $$\text{vanilla MoE:}\; y_t = \sum_i G_i\,(W_i x_t) \qquad\qquad
#   \text{MEO:}\; \tilde W = \sum_i G_i W_i,\; y_t = \tilde W x_t .$$
#
# The two are **equal** for the same gates (distributivity): at sequence and task level MEO is a pure
# compute saving — one merge of $k$ matrices per sequence, then one matmul per token instead of $k$.
# At **token level** vanilla MoE routes every token, while the official MEO still routes per sequence
# and adds a token attention block $A(x) = W_{up}\,\mathrm{ReLU}(W_{down} x + b)$ (width $d/64$,
# $W_{up}=0$ at init) as $x \leftarrow x + A(x)$ before gating and the merged matmul.
#
# **Upcycling.** Each pretrained FFN matrix is copied into all $n$ experts, so the merged weight equals
# the pretrained one at step 0. The official BERT path builds bias-free experts and so **drops the
# pretrained FFN biases**; we keep that (`drop_ffn_bias=True`) and test both settings.

# %% [markdown]
# ## F1 · Forward GFLOPs against k (the paper's headline figure)
#
# The official FLOPs tool was deleted from the repository, so the count is reconstructed analytically
# (`replib.meo.flops`): one sequence of 128 tokens, 2 FLOPs per multiply-add, the 30522-way MLM head
# included. A unit test checks the formula against `torch.utils.flop_counter` on the real modules.

# %%
fl = experiment.flops_frame(cfg)
fig, ax = plotting.new_figure(width=6.2, height=4.0)
for model, color in zip(fl["model"].unique(), plotting.OKABE_ITO):   # one colour per model size
    for mode, ls, marker in (("moe", "-", "o"), ("meo", "-.", "s")):
        d = fl[(fl.model == model) & (fl["mode"] == mode)]
        ax.plot(d.k, d.gflops, ls, marker=marker, color=color,
                label=f"{model.replace('bert-', 'BERT-')} {mode.upper()}")
plotting.paper_marker(ax, [4, 4], [72.0, 28.6], label="paper: BERT-base k=4")
ax.set(yscale="log", xlabel="selected experts k", ylabel="GFLOPs per sequence (128 tokens)",
       title="Forward cost: vanilla MoE grows with k, MEO stays flat")
plotting.log2_axis(ax, cfg.flops_ks)
ax.legend(ncol=2, fontsize=8)
report.save_figure(fig, "gflops_vs_k", run)
fl.pivot_table(index=["model", "mode"], columns="k", values="gflops").round(1)

# %% [markdown]
# ## F2 · Measured forward time per token against k
#
# The same FFN (BERT-base widths by default) as vanilla MoE and as MEO, sharing weights and a random
# router, timed on this run's device (median of several repetitions after a warm-up). Our vanilla MoE
# groups tokens by expert (one matmul per used expert, no per-sample loop); MEO merges with one matmul
# (or a gather of the k selected experts when 2k < n, as the official code) and then one `bmm`.

# %%
tm = experiment.timing_frame(cfg, run.device, seed=run.seed)
fig, ax = plotting.new_figure(width=6.2, height=4.0)
for mode in ("moe", "meo"):
    d = tm[tm["mode"] == mode]
    ax.plot(d.k, d.us_per_token, marker="o", color=plotting.COLORS[mode], label=mode.upper())
ax.set(yscale="log", xlabel="selected experts k", ylabel="µs per token (FFN forward)",
       title=f"FFN {cfg.timing_dims[0]}→{cfg.timing_dims[1]}, {cfg.timing_experts} experts, on {run.device}")
plotting.log2_axis(ax, cfg.timing_ks)
ax.legend()
report.save_figure(fig, "time_vs_k", run)
tm.pivot_table(index="mode", columns="k", values="us_per_token").round(2)

# %% [markdown]
# ## F3 · GLUE accuracy against k, experts upcycled from a pretrained encoder
#
# all-MiniLM-L6-v2 (6 layers, d=384) is upcycled into $n$ experts per FFN linear and fine-tuned at
# sequence level on RTE, MRPC and SST-2 (dev accuracy; `full` uses BERT-base and all training data).
# At `quick` on two CPU cores the bottom `n_frozen` layers stay frozen and are encoded once, and the
# upcycled top layers and the head are fine-tuned on a subset of the training set: this keeps the whole
# sweep within minutes, and means that the absolute accuracies are far below the paper's.
# Vanilla MoE is trained beside MEO at a few k from the first seed: the two compute the same function,
# so from the same seed they should land on the same accuracy (crosses inside circles). That is an
# identity of the implementation, not evidence for the paper, so it is a unit test
# (`tests/unit/test_meo.py`) and a printed diagnostic below, not a claim. Learning rates: 3e-4 for the encoder, 3e-3 for the new head, because the
# budget is 30 steps (the paper fine-tunes at 1e-5 for 10 epochs).

# %%
ctx = experiment.prepare(cfg, run.device)   # encoder loaded, tasks tokenised once for F3 and F4
glue = experiment.glue_frame(cfg, ctx, run.device, seed=run.seed)
summary = experiment.summarise(glue)
tasks = list(cfg.tasks)
fig, axes = plotting.new_figure(ncols=len(tasks), width=3.4 * len(tasks), height=3.4)
for ax, task in zip(plotting.axes_list(axes), tasks):
    d = glue[glue.task == task]
    acc = d[d["mode"] == "meo"].pivot(index="seed", columns="k", values="acc") * 100   # rows: seeds
    plotting.mean_band(ax, acc.columns, acc.to_numpy(), label="MEO (mean ± std)", color=plotting.COLORS["meo"])
    first = d[(d["mode"] == "meo") & (d.seed == run.seed)]
    ax.plot(first.k, first.acc * 100, "o", ms=7, mfc="none", color=plotting.COLORS["meo"], label=f"MEO, seed {run.seed}")
    moe = d[(d["mode"] == "moe") & (d.seed == run.seed)]
    ax.plot(moe.k, moe.acc * 100, "x", ms=8, color=plotting.COLORS["moe"], label=f"vanilla MoE, seed {run.seed}")
    ax.axhline(d[d["mode"] == "dense"].acc.mean() * 100, color=plotting.COLORS["dense"], ls="--", label="dense")
    ax.set(title=task, xlabel="selected experts k", ylabel="dev accuracy (%)")
    plotting.log2_axis(ax, cfg.ks)
plotting.axes_list(axes)[0].legend()
fig.suptitle(f"{cfg.encoder} upcycled to {cfg.n_experts} experts, mean ± std over {cfg.seeds} seed(s)")
report.save_figure(fig, "glue_acc_vs_k", run)
gap = meo_moe_gap(glue)
if gap["pairs"]:
    print(f"MEO vs vanilla MoE from the same seed, {gap['pairs']} (task, k, seed) pair(s): max |acc gap| "
          f"{gap['acc_points']:.3g} points, max |final loss gap| {gap['loss_last']:.2g}")
summary.pivot_table(index=["task", "mode"], columns="k", values="mean").mul(100).round(1)

# %% [markdown]
# ## F4 · Token level: vanilla token MoE vs MEO vs MEO + TokenAtt
#
# (a) vanilla MoE routing every token, (b) MEO at sequence level without the token block (from F3),
# (c) MEO with the token attention block — all at the same k. The paper reports (c) > (a) on GLUE.

# %%
tok = experiment.token_frame(cfg, ctx, run.device, seed=run.seed)
seq_meo = glue[(glue["mode"] == "meo") & (glue.k == cfg.token_k)]
variants = {"(a) token MoE": tok[tok["mode"] == "moe"], "(b) MEO, sequence": seq_meo,
            "(c) MEO + TokenAtt": tok[tok["mode"] == "meo"]}
fig, ax = plotting.new_figure(width=6.2, height=3.6)
width = 0.8 / len(variants)
for j, (label, d) in enumerate(variants.items()):
    g = d.groupby("task").acc
    xs = [i + (j - 1) * width for i in range(len(tasks))]
    ax.bar(xs, g.mean().reindex(tasks) * 100, width, yerr=g.std().reindex(tasks).fillna(0) * 100, label=label)
ax.set_xticks(range(len(tasks)), tasks)
ax.set(ylabel="dev accuracy (%)", title=f"Token level at k={cfg.token_k}, mean ± std over {cfg.seeds} seed(s)")
ax.legend(fontsize=8)
report.save_figure(fig, "token_level", run)
{label: round(float(d.acc.mean() * 100), 2) for label, d in variants.items()}

# %% [markdown]
# ## Claims and verdicts
#
# Each verdict below is computed from the measured numbers, never typed; `results.json` (the per-run
# frames), `claims.json` and `metrics.json` are written next to the figures, and
# `python -m replib.report --check` rebuilds the claims from `results.json`.
#
# The criteria are stronger than the plan's (`papers/meo.md` Sec. 6), which compared means:
# - **Exact** claims (`flops_*`, `token_level_flops`) are formulas: judged at every profile, not counted
#   as replications.
# - **Accuracy** claims use **(task, seed)-paired differences** with a 95% t interval and a sign test
#   (`replib.stats.paired`): reproduced only when the interval excludes 0 in the paper's direction, not
#   reproduced when it excludes 0 the other way, inconclusive otherwise. A mean difference of a fraction
#   of a point over a few seeds is noise, and "best of k in {2, 4, 8} >= k=1" would pass even if k did
#   nothing (picking the best of three noisy numbers). So `multi_expert_helps` uses the **pre-registered
#   k = 4** (the official default with 8 experts and the FLOPs headline) against k=1 and against k=n.
# - The token-level claim is split: its FLOPs ratio is a formula (exact), its accuracy gap is measured.
#   Before, the always-passing FLOPs check turned a failed accuracy check into "partly".
# - MEO = MoE at sequence level holds by construction and is a unit test, not a claim.

# %%
results = {"timing": tm, "glue": glue, "token": tok}       # per-run rows: what make_claims reads
claims = report.save_claims(run, cfg, **results)
report.save_metrics(run, cfg, headline_metrics(cfg, **results), seeds=list(range(run.seed, run.seed + cfg.seeds)))
plt.close("all")
report.claims_table(claims)

# %% [markdown]
# ## What we found, and how it differs from the paper
#
# The verdicts above are computed; the numbers in this section are printed from the same frames.

# %%
t = tm.pivot(index="k", columns="mode", values="us_per_token")
k_hi = 8 if 8 in t.index else int(t.index.max())
r_meo, r_moe = (float(t.loc[k_hi, m] / t.loc[1, m]) for m in ("meo", "moe"))
shape = ("flat within timing noise" if r_meo <= 1.1 else "nearly flat: the merge reads k d x f matrices per sequence"
         if r_meo <= 1.3 else "not flat: the merge's memory traffic (k d x f matrices read per sequence) dominates")
print(f"- Time. On {run.device}, from k=1 to k={k_hi} vanilla MoE's time per token grows {r_moe:.2f}x "
      f"(its FLOPs grow {k_hi}x in the FFN); MEO's changes {r_meo:.2f}x, {shape}.")


def seq(mode, k):
    return glue[(glue["mode"] == mode) & (glue.level == "sequence") & (glue.k == k)][["task", "seed", "acc"]]


for label, a, b in ((f"MEO k={K_PRE} - k=1", seq("meo", K_PRE), seq("meo", 1)),
                    (f"MEO k={K_PRE} - k={cfg.n_experts}", seq("meo", K_PRE), seq("meo", cfg.n_experts)),
                    (f"MEO k={K_PRE} - dense", seq("meo", K_PRE), seq("dense", 0)),
                    (f"token level, MEO+TokenAtt - token MoE (k={cfg.token_k})",
                     tok[tok["mode"] == "meo"][["task", "seed", "acc"]],
                     tok[tok["mode"] == "moe"][["task", "seed", "acc"]])):
    p = paired_acc(a, b)
    if p is None:
        print(f"- {label}: not measured at this profile")
        continue
    word = ("is above 0" if p.lo is not None and p.lo > 0 else "is below 0" if p.hi is not None and p.hi < 0 else
            "contains 0 (inconclusive: more seeds or tasks, i.e. `full`, are needed to decide)")
    print(f"- {label}: {p.describe('points')}; the interval {word}.")
if gap["pairs"]:
    print(f"- MEO = MoE: trained from the same seed, the two differ by at most {gap['acc_points']:.3g} accuracy "
          f"points over {gap['pairs']} pair(s), as the identity says.")

# %% [markdown]
# How to read them:
#
# - **FLOPs.** The analytic count reproduces the headline within 1% (table under F1); MEO's remaining
#   growth in k is the merge, $4kLdf$ FLOPs, small next to one expert's $4nLdf$ per sequence.
# - **Time.** Vanilla MoE's time grows with k as its FLOPs do. MEO's merge is cheap in FLOPs but
#   memory-bound: each sequence reads the k selected $d \times f$ matrices and writes a merged one; the
#   printed ratio above says how much of that shows on this device and batch size.
#   `benchmarks/bench_meo.py` gives the full table.
# - **Training cost.** The same memory traffic makes MEO training expensive at short sequences: the
#   merged weight and its gradient are $B \times d \times f$ tensors. Our hand-written backward
#   (`replib.meo.layers._MergedLinear`) writes each once; `benchmarks/bench_meo.py` compares it with
#   autograd through the literal formula.
# - **Accuracy.** At sequence level MEO *is* vanilla MoE (the printed gap above), so whether k>1 beats
#   k=1 is a property of MoE fine-tuning. A CPU budget of 320 examples, one upcycled layer and a few
#   seeds resolves effects of a point or two only when the paired interval says so; where it is
#   inconclusive, `full` (BERT-base, all training data) is needed to decide.
# - **Upcycling drops biases.** The official BERT path builds bias-free experts, so upcycling removes
#   the pretrained FFN biases; with a short budget this can leave the MoE/MEO models behind the dense
#   one (the printed MEO - dense difference). `overrides={"drop_ffn_bias": False}` keeps them (then the
#   step-0 model equals the dense one).
# - **Token level.** The paper's "token-level MEO" routes per *sequence* and adds a per-token residual
#   bottleneck (as the official code does); it is not a per-token merge. Our comparison follows the code.
# - **Deviations.** all-MiniLM-L6-v2 with five frozen layers at `quick` instead of BERT-base; mean
#   pooling (how MiniLM was trained) instead of BERT's pooler; the merge runs over the experts used by
#   the batch instead of per-sequence gathers (same result, less memory traffic); task-level routing is
#   implemented and tested but not part of the sweep.
