"""Planar hopper morphologies and heightfield terrain for MECE's 2D locomotion task (papers/mece.md Sec. 6 "Full").

The robot is gym's / Transform2Act's hopper topology (``hopper.xml`` of Gymnasium's Hopper-v5 and of
Khrylx/Transform2Act): torso -> thigh -> leg -> foot, root joints slide x, slide z, hinge y, three actuated
hinges (thigh, leg, foot) with motors of ctrlrange [-1, 1]. A morphology ``m`` (spec Sec. 2: pi_m changes
"skeleton / joint attributes") is a dict of the 11 ``FIELDS``: four segment lengths, four capsule radii and
three joint gears, each inside ``BOUNDS``; ``build_model`` writes it as an MJCF string and compiles it.

The environment parameter theta of pi_e (spec Sec. 2: "in 2D locomotion pi_e only changes terrain roughness") is
``roughness``: the peak bump height in metres of a heightfield that varies along x only (the robot is planar), made
from a few random-phase sinusoids drawn from ``numpy.random.default_rng(seed)``, flat (height 0) under the start.
Train and test terrains use disjoint seed ranges (``terrain_seed``; spec Sec. 7).

Choices the spec leaves open are marked "Ours" below; everything else is gym Hopper-v5 / Transform2Act.
"""
from __future__ import annotations

import math

import mujoco
import numpy as np

FIELDS = ("torso_len", "thigh_len", "leg_len", "foot_len", "torso_r", "thigh_r", "leg_r", "foot_r",
          "thigh_gear", "leg_gear", "foot_gear")

# Gym Hopper-v5 values (hopper.xml): torso 1.45 -> 1.05 (0.4), thigh 1.05 -> 0.6 (0.45), leg 0.6 -> 0.1 (0.5),
# foot -0.13 -> 0.26 (0.39); radii 0.05 / 0.05 / 0.04 / 0.06; gear 200 on each motor (Transform2Act's hopper.xml
# also uses gear 200 with ctrlrange [-1, 1]).
DEFAULT = {"torso_len": 0.40, "thigh_len": 0.45, "leg_len": 0.50, "foot_len": 0.39,
           "torso_r": 0.05, "thigh_r": 0.05, "leg_r": 0.04, "foot_r": 0.06,
           "thigh_gear": 200.0, "leg_gear": 200.0, "foot_gear": 200.0}

_RADIUS = (0.03, 0.08)   # Transform2Act cfg/hopper.yml geom_params.size lb 0.03, ub 0.08 (capsule radius)
_GEAR = (20.0, 400.0)    # Transform2Act cfg/hopper.yml actuator_params.gear lb 20, ub 400: used unscaled, since
#                          its motors (like gym's) have ctrlrange [-1, 1] and gear 200, the middle of that range


def _length(gym: float) -> tuple[float, float]:
    # Ours: gym's length +-50%. (Transform2Act bounds each body offset to +-0.5 per axis (xz) instead, which
    # lets its segments tilt; our segments stay straight, so we bound the length around gym's value.)
    return (round(0.5 * gym, 6), round(1.5 * gym, 6))


BOUNDS: dict[str, tuple[float, float]] = {
    "torso_len": _length(0.40), "thigh_len": _length(0.45), "leg_len": _length(0.50), "foot_len": _length(0.39),
    "torso_r": _RADIUS, "thigh_r": _RADIUS, "leg_r": _RADIUS, "foot_r": _RADIUS,
    "thigh_gear": _GEAR, "leg_gear": _GEAR, "foot_gear": _GEAR,
}

START_CLEARANCE = 0.04   # gym: torso centre at 1.25 over a standing height of 0.06 + 0.5 + 0.45 + 0.2 = 1.21
GYM_START_HEIGHT = 1.25

# Terrain grid along x (Ours): 64 m at 10 cm; an episode of 1000 steps x 0.008 s stays on it below 7 m/s.
# (MuJoCo's hfield collision cost grows with the cells under a geom: 5 cm steps ran 25% slower than 10 cm.)
TERRAIN_X = np.linspace(-4.0, 60.0, 641)
FLAT_UNTIL = 0.4         # Ours: heights are exactly 0 for x <= 0.4 m, under the initial robot (torso at x = 0, the
#                          longest foot reaches 0.39 m); a 1 m zone left a hopper that learned to stand in place on
#                          flat ground whatever the roughness (quick held-out returns flat in roughness)
RAMP = 0.4               # then bumps fade in over 0.4 m (smoothstep) so no step appears at the zone's edge
N_WAVES = 8              # Ours: sum of 8 sinusoids, wavelengths U(1, 4) m, amplitude ~ wavelength (similar slopes)
MAX_ROUGHNESS = 1.0      # metres; larger values raise (a hopper cannot stand in 2 m deep troughs)

TRAIN_SEED_BASE = 0
TEST_SEED_BASE = 1_000_000
SEEDS_PER_SPLIT = 1_000_000   # train seeds are [0, 1e6), test seeds [1e6, 2e6): disjoint by construction


def terrain_seed(split: str, i: int) -> int:
    """The seed of the i-th terrain of a split ('train' | 'test'); the two ranges never overlap."""
    bases = {"train": TRAIN_SEED_BASE, "test": TEST_SEED_BASE}
    if split not in bases:
        raise ValueError(f"split must be one of {sorted(bases)}, got {split!r}")
    if not (isinstance(i, (int, np.integer)) and 0 <= i < SEEDS_PER_SPLIT):
        raise ValueError(f"terrain index i must be an int in [0, {SEEDS_PER_SPLIT}), got {i!r}")
    return bases[split] + int(i)


def terrain_heights(roughness: float, seed: int) -> np.ndarray:
    """Ground height (m) at each point of ``TERRAIN_X``: ``roughness * envelope(x) * bumps(x)``.

    ``bumps`` = sum of ``N_WAVES`` sinusoids a_k sin(2 pi x / lambda_k + phi_k), lambda_k ~ U(1, 4) m (>= 10 grid
    points a period), a_k = lambda_k * U(0.5, 1), phi_k ~ U(0, 2 pi), all from ``default_rng(seed)``, scaled so
    max |bumps| = 1 on the grid: ``roughness`` is the peak height above or below the flat start level 0.
    ``envelope`` is 0 up to ``FLAT_UNTIL`` and rises to 1 by smoothstep over ``RAMP`` metres. Roughness 0 gives
    all zeros for every seed.
    """
    roughness = _check_roughness(roughness)
    rng = np.random.default_rng(seed)
    lam = rng.uniform(1.0, 4.0, N_WAVES)
    amp = lam * rng.uniform(0.5, 1.0, N_WAVES)
    phase = rng.uniform(0.0, 2 * math.pi, N_WAVES)
    x = TERRAIN_X
    bumps = (amp[:, None] * np.sin(2 * math.pi * x[None, :] / lam[:, None] + phase[:, None])).sum(0)
    bumps /= np.abs(bumps).max()
    s = np.clip((x - FLAT_UNTIL) / RAMP, 0.0, 1.0)
    return roughness * (s * s * (3 - 2 * s)) * bumps


def ground_height(heights: np.ndarray, x) -> np.ndarray:
    """Height of the terrain surface at x (piecewise linear between grid points, as MuJoCo's hfield is along a
    line of constant y when both of its rows are equal); clamped to the end values off the grid."""
    return np.interp(x, TERRAIN_X, heights)


def _check_roughness(roughness) -> float:
    try:
        r = float(roughness)
    except (TypeError, ValueError):
        r = math.nan
    if not (math.isfinite(r) and 0.0 <= r <= MAX_ROUGHNESS):
        raise ValueError(f"roughness must be a number in [0, {MAX_ROUGHNESS}] (metres), got {roughness!r}")
    return r


def check(morph: dict[str, float]) -> dict[str, float]:
    """A validated float copy of ``morph``; ValueError for missing / unknown fields or values outside BOUNDS."""
    missing = [f for f in FIELDS if f not in morph]
    unknown = sorted(set(morph) - set(FIELDS))
    if missing or unknown:
        raise ValueError(f"morphology fields: missing {missing}, unknown {unknown}; expected {list(FIELDS)}")
    out = {}
    for f in FIELDS:
        v, (lo, hi) = float(morph[f]), BOUNDS[f]
        if not (math.isfinite(v) and lo <= v <= hi):
            raise ValueError(f"morphology field {f} = {morph[f]!r} is outside its bounds [{lo}, {hi}]")
        out[f] = v
    return out


def to_vector(morph: dict[str, float]) -> np.ndarray:
    """float64 vector in ``FIELDS`` order (no bounds check; missing or unknown fields raise ValueError)."""
    missing = [f for f in FIELDS if f not in morph]
    if missing or set(morph) - set(FIELDS):
        raise ValueError(f"morphology fields: missing {missing}, unknown {sorted(set(morph) - set(FIELDS))}")
    return np.array([float(morph[f]) for f in FIELDS])


def from_vector(v) -> dict[str, float]:
    """Inverse of ``to_vector``."""
    v = np.asarray(v, dtype=np.float64)
    if v.shape != (len(FIELDS),):
        raise ValueError(f"morphology vector must have shape ({len(FIELDS)},), got {v.shape}")
    return {f: float(x) for f, x in zip(FIELDS, v)}


LOWS = np.array([BOUNDS[f][0] for f in FIELDS])    # the bounds box as vectors in FIELDS order (pi_m's box)
HIGHS = np.array([BOUNDS[f][1] for f in FIELDS])


def clip(morph: dict[str, float]) -> dict[str, float]:
    """Each field clipped into its BOUNDS (spec Sec. 7: m is clipped after every pi_m action)."""
    return from_vector(np.clip(to_vector(morph), LOWS, HIGHS))


def normalise(morph: dict[str, float]) -> np.ndarray:
    """Affine map of each field from [lo, hi] to [-1, 1] (float64, ``FIELDS`` order): the observation's m."""
    return 2.0 * (to_vector(morph) - LOWS) / (HIGHS - LOWS) - 1.0


def start_height(morph: dict[str, float]) -> float:
    """Initial torso-centre height above the (flat) start zone: the standing height plus gym's 0.04 clearance
    (foot radius + leg + thigh + torso / 2 + 0.04 = 1.25 for DEFAULT, gym's initial height)."""
    return morph["foot_r"] + morph["leg_len"] + morph["thigh_len"] + 0.5 * morph["torso_len"] + START_CLEARANCE


def _f(x: float) -> str:
    return f"{x:.6g}"


def mjcf(morph: dict[str, float], z_low: float, z_range: float) -> str:
    """The MJCF text of a validated morphology; the hfield's elevations are set after compiling (build_model).

    Local body frames (no compiler coordinate="global"): torso centre at height ``start_height``; thigh hangs
    from the torso's lower end, leg from the thigh's, foot (horizontal, ankle at a third of its length, as gym's
    -0.13 .. 0.26) from the leg's. Defaults, joint ranges, frictions, RK4 at 2 ms: gym Hopper-v5's hopper.xml.
    """
    m = morph
    z0, t, th, lg, ft = start_height(m), m["torso_len"], m["thigh_len"], m["leg_len"], m["foot_len"]
    x_half = 0.5 * (TERRAIN_X[-1] - TERRAIN_X[0])
    x_mid = 0.5 * (TERRAIN_X[-1] + TERRAIN_X[0])
    return f"""<mujoco model="mece_hopper">
  <compiler angle="degree" inertiafromgeom="true"/>
  <default>
    <joint armature="1" damping="1" limited="true"/>
    <geom conaffinity="1" condim="1" contype="1" margin="0.001" solimp=".8 .8 .01" solref=".02 1"/>
    <motor ctrllimited="true" ctrlrange="-1 1"/>
  </default>
  <option integrator="RK4" timestep="0.002"/>
  <asset>
    <hfield name="terrain" nrow="2" ncol="{len(TERRAIN_X)}" size="{_f(x_half)} 1 {_f(z_range)} 1"/>
  </asset>
  <worldbody>
    <geom name="floor" type="hfield" hfield="terrain" pos="{_f(x_mid)} 0 {_f(z_low)}" conaffinity="1" condim="3"/>
    <body name="torso" pos="0 0 {_f(z0)}">
      <joint armature="0" axis="1 0 0" damping="0" limited="false" name="rootx" pos="0 0 0" stiffness="0"
             type="slide"/>
      <joint armature="0" axis="0 0 1" damping="0" limited="false" name="rootz" pos="0 0 0" ref="{_f(z0)}"
             stiffness="0" type="slide"/>
      <joint armature="0" axis="0 1 0" damping="0" limited="false" name="rooty" pos="0 0 0" stiffness="0"
             type="hinge"/>
      <geom friction="0.9" name="torso_geom" type="capsule" size="{_f(m['torso_r'])}"
            fromto="0 0 {_f(t / 2)} 0 0 {_f(-t / 2)}"/>
      <body name="thigh" pos="0 0 {_f(-t / 2)}">
        <joint axis="0 -1 0" name="thigh_joint" pos="0 0 0" range="-150 0" type="hinge"/>
        <geom friction="0.9" name="thigh_geom" type="capsule" size="{_f(m['thigh_r'])}" fromto="0 0 0 0 0 {_f(-th)}"/>
        <body name="leg" pos="0 0 {_f(-th)}">
          <joint axis="0 -1 0" name="leg_joint" pos="0 0 0" range="-150 0" type="hinge"/>
          <geom friction="0.9" name="leg_geom" type="capsule" size="{_f(m['leg_r'])}" fromto="0 0 0 0 0 {_f(-lg)}"/>
          <body name="foot" pos="0 0 {_f(-lg)}">
            <joint axis="0 -1 0" name="foot_joint" pos="0 0 0" range="-45 45" type="hinge"/>
            <geom friction="2.0" name="foot_geom" type="capsule" size="{_f(m['foot_r'])}"
                  fromto="{_f(-ft / 3)} 0 0 {_f(2 * ft / 3)} 0 0"/>
          </body>
        </body>
      </body>
    </body>
  </worldbody>
  <actuator>
    <motor gear="{_f(m['thigh_gear'])}" joint="thigh_joint" name="thigh"/>
    <motor gear="{_f(m['leg_gear'])}" joint="leg_joint" name="leg"/>
    <motor gear="{_f(m['foot_gear'])}" joint="foot_joint" name="foot"/>
  </actuator>
</mujoco>
"""


def build_model(morph: dict[str, float], roughness: float, seed: int) -> mujoco.MjModel:
    """Validate ``morph`` and ``roughness``, write the MJCF, compile it and fill the heightfield.

    MuJoCo's surface height is ``geom_z + size_z * data``, data in [0, 1]: the geom sits at the lowest terrain
    height and size_z is the height range (1 mm for flat ground, where data is all 0), so the surface equals
    ``terrain_heights(roughness, seed)`` at every grid point.
    """
    m = check(morph)
    h = terrain_heights(roughness, seed)
    low, span = float(h.min()), float(h.max() - h.min())
    z_range = max(span, 1e-3)
    model = mujoco.MjModel.from_xml_string(mjcf(m, low, z_range))
    rows = np.tile((h - low) / z_range, (2, 1))            # (nrow=2, ncol): equal rows, heights vary with x only
    model.hfield_data[:] = rows.ravel().astype(np.float32)
    return model
