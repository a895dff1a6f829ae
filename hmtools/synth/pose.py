"""The athlete: an articulated stick figure and its motion through take-off, flight and entry.

Angles are radians in a body frame facing +x (mirrored for athletes facing -x); a direction
``alpha`` is the unit vector ``(sin alpha, -cos alpha)`` in image coordinates (y down), so
``alpha = 0`` points up and increasing ``theta`` rotates the body towards its front.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hmtools.synth.plan import Action, AthleteFeatures, ClipPlan

# Segment lengths and thicknesses as fractions of the standing height L.
TORSO, HEAD_R = 0.30, 0.075
THIGH, SHIN, UPPER_ARM, FOREARM = 0.24, 0.24, 0.16, 0.15
TORSO_W, LIMB_W = 0.12, 0.075
COME_OUT = 0.3  # last fraction of the flight spent opening up for the entry
LOOSE_SPREAD = 0.9  # extra angle (rad) between near and far limbs of a fully loose position
ENTRY_SPEED = 0.12  # first entry frame's slide, x standing height (the entry angle stays visible)


@dataclass(frozen=True)
class Pose:
    """Body orientation and joint flexions (radians)."""

    theta: float = 0.0       # torso direction (0 = head up)
    hip: float = 0.0         # hip flexion: legs towards the chest
    knee: float = 0.0        # knee flexion: shins fold back
    shoulder: float = 0.0    # 0 = arms down along the body, pi = overhead
    elbow: float = 0.0
    spread: float = 0.08     # angle between near and far limbs
    width: float = 1.0       # lateral thickness factor (< 1 while twisting)


@dataclass(frozen=True)
class AthleteFrame:
    """One athlete in one frame, in world (panorama) pixel coordinates."""

    pose: Pose
    center_xy: tuple[float, float]   # where the joints' centroid is placed
    facing: int                      # +1 faces +x (the water side), -1 faces the platform
    height_px: float                 # standing height L


def _dir(alpha: float) -> np.ndarray:
    return np.array([math.sin(alpha), -math.cos(alpha)])


def joints(pose: Pose, height_px: float) -> dict[str, np.ndarray]:
    """Joint positions relative to the hip, body frame facing +x, in pixels."""
    L = height_px
    hip = np.zeros(2)
    neck = hip + TORSO * L * _dir(pose.theta)
    head = neck + 1.15 * HEAD_R * L * _dir(pose.theta)
    out = {"hip": hip, "neck": neck, "head": head}
    for side, sign in (("near", 1.0), ("far", -1.0)):
        thigh = pose.theta + math.pi - pose.hip + sign * pose.spread / 2
        knee = hip + THIGH * L * _dir(thigh)
        ankle = knee + SHIN * L * _dir(thigh + pose.knee)
        upper = pose.theta + math.pi - pose.shoulder - sign * pose.spread
        elbow = neck + UPPER_ARM * L * _dir(upper)
        wrist = elbow + FOREARM * L * _dir(upper - pose.elbow)
        out.update({f"{side}_knee": knee, f"{side}_ankle": ankle, f"{side}_elbow": elbow,
                    f"{side}_wrist": wrist})
    return out


def placed_joints(frame: AthleteFrame) -> dict[str, np.ndarray]:
    """Joints in world coordinates: mirrored by ``facing``, centroid at ``center_xy``."""
    local = joints(frame.pose, frame.height_px)
    centroid = np.mean(list(local.values()), axis=0)
    mirror = np.array([frame.facing, 1.0])
    center = np.asarray(frame.center_xy)
    return {k: center + (v - centroid) * mirror for k, v in local.items()}


def segments(frame: AthleteFrame) -> list[tuple[str, str, str, float]]:
    """Draw list ``(part, joint_a, joint_b, thickness_px)`` back to front (far limbs first)."""
    L = frame.height_px
    limb = LIMB_W * L
    torso = TORSO_W * L * frame.pose.width

    def limbs(side: str) -> list[tuple[str, str, str, float]]:
        return [(side, "hip", f"{side}_knee", limb), (side, f"{side}_knee", f"{side}_ankle", limb),
                (side, "neck", f"{side}_elbow", limb), (side, f"{side}_elbow", f"{side}_wrist", limb)]

    out = limbs("far") + [("torso", "hip", "neck", torso), ("head", "head", "head", HEAD_R * L)]
    out += limbs("near")
    return out


def _ramp(x: float, a: float, b: float) -> float:
    """0 before a, 1 after b, smoothstep between."""
    if b <= a:
        return float(x >= b)
    t = min(max((x - a) / (b - a), 0.0), 1.0)
    return t * t * (3 - 2 * t)


def _mix(a: float, b: float, t: float) -> float:
    return a + (b - a) * t


def take_off_pose(p: float, action: Action) -> Pose:
    """Standing at the edge, arms up, arm swing and crouch, extension (p in [0, 1])."""
    raise_arms = _ramp(p, 0.0, 0.35)
    swing_down = _ramp(p, 0.55, 0.75)
    swing_up = _ramp(p, 0.75, 1.0)
    shoulder = _mix(_mix(_mix(0.15, math.pi - 0.15, raise_arms), 0.5, swing_down),
                    math.pi - 0.3, swing_up)
    crouch = _ramp(p, 0.55, 0.8) * (1 - _ramp(p, 0.82, 1.0))
    lean = 0.25 * _ramp(p, 0.6, 1.0) * (1 if action.forward_rotation else -1)
    return Pose(theta=lean, hip=0.7 * crouch, knee=1.1 * crouch, shoulder=shoulder,
                elbow=0.2 * crouch, spread=0.06)


def flight_pose(tau: float, action: Action, features: AthleteFeatures, twist_share: float
                ) -> Pose:
    """Pose at flight progress tau in (0, 1]: optional twist, closed somersault, come-out."""
    t = features.tightness
    s_rot = 1.0 if action.forward_rotation else -1.0
    theta_end = s_rot * 2 * math.pi * action.somersaults + math.radians(features.entry_deviation_deg)
    theta = theta_end * _ramp(tau, 0.03, 1 - COME_OUT * 0.4)
    close_start = twist_share
    closed = _ramp(tau, close_start, close_start + 0.12) * (
        1 - _ramp(tau, 1 - COME_OUT, 1 - COME_OUT / 3))
    # a loose position is visibly open (large, spread silhouette), a tight one a compact fold
    if action.position == "pike":
        hip = math.radians(60 + 100 * t)
        knee = math.radians(45 * (1 - t))
        arm_closed = hip * 0.95
    else:
        hip = math.radians(50 + 90 * t)
        knee = math.radians(40 + 110 * t)
        arm_closed = max(hip - 0.3, 0.4)
    # a loose position also lets the limbs drift apart (a wide, star-like silhouette)
    width, spread = 1.0, 0.08 + LOOSE_SPREAD * (1 - t) * closed
    if tau < twist_share:
        arm_open = 0.15
        turn = 2 * math.pi * action.twists * tau / twist_share
        width = 0.65 + 0.35 * abs(math.cos(turn))
        spread = 0.08 + 0.9 * abs(math.sin(turn))
    elif tau < 1 - COME_OUT:
        arm_open = math.pi - 0.3
    else:
        arm_open = math.pi - 0.05
    shoulder = _mix(arm_open, arm_closed, closed)
    return Pose(theta=theta, hip=hip * closed, knee=knee * closed, shoulder=shoulder,
                elbow=0.4 * closed, spread=spread, width=width)


def entry_pose(features: AthleteFeatures, action: Action) -> Pose:
    """Straight, inverted, arms overhead, tilted by the entry deviation."""
    s_rot = 1.0 if action.forward_rotation else -1.0
    theta = s_rot * 2 * math.pi * action.somersaults + math.radians(features.entry_deviation_deg)
    return Pose(theta=theta, shoulder=math.pi - 0.05, spread=0.04)


@dataclass(frozen=True)
class Stage:
    """Where the dive happens in the world: platform edge, platform top, water line (pixels)."""

    edge_x: float
    platform_y: float
    water_y: float
    height_px: float
    drift_px: float


def athlete_track(plan: ClipPlan, athlete: int, stage: Stage
                  ) -> tuple[list[AthleteFrame], tuple[float, float], int]:
    """Every frame of one athlete, plus the entry point ``(x, y)`` and the first entry frame.

    The second athlete of a synchronized pair is drawn smaller and further back by the scene;
    here it only differs by its features.
    """
    action = plan.action
    features = plan.athletes[athlete]
    facing = 1 if action.facing_water else -1
    n_take, n_twist, n_soms, n_entry = plan.phase_frames
    n_flight = n_twist + n_soms
    L = stage.height_px
    frames: list[AthleteFrame] = []

    # Take-off: feet anchored on the platform top at the edge, rising in the last frames.
    for k in range(n_take):
        p = k / max(n_take - 1, 1)
        pose = take_off_pose(p, action)
        local = joints(pose, L)
        centroid = np.mean(list(local.values()), axis=0)
        feet_y = max(local["near_ankle"][1], local["far_ankle"][1]) - centroid[1]
        rise = 0.12 * L * _ramp(p, 0.85, 1.0)
        center = (stage.edge_x - 0.05 * L, stage.platform_y - feet_y - rise)
        frames.append(AthleteFrame(pose, center, facing, L))

    # Flight: a parabola from the take-off centroid to where the hands touch the water.
    x0, y0 = frames[-1].center_xy if frames else (stage.edge_x, stage.platform_y - 0.5 * L)
    end_pose = flight_pose(1.0, action, features, 0.0)
    end_local = joints(end_pose, L)
    end_centroid = np.mean(list(end_local.values()), axis=0)
    lowest = max(v[1] for v in end_local.values()) - end_centroid[1]
    y_end = stage.water_y - lowest
    x_end = x0 + stage.drift_px
    apex = 0.2
    a = (y_end - y0) / (1 - 2 * apex)
    b = -2 * a * apex
    twist_share = n_twist / n_flight if n_flight else 0.0
    for j in range(n_flight):
        tau = (j + 1) / n_flight
        pose = flight_pose(tau, action, features, twist_share)
        center = (_mix(x0, x_end, tau), y0 + a * tau * tau + b * tau)
        frames.append(AthleteFrame(pose, center, facing, L))

    # Entry: straight and tilted, sliding into the water along the body axis.
    pose = entry_pose(features, action)
    wrists = placed_joints(AthleteFrame(pose, (x_end, y_end), facing, L))
    entry_xy = (float((wrists["near_wrist"][0] + wrists["far_wrist"][0]) / 2), stage.water_y)
    axis = _dir(pose.theta) * np.array([facing, 1.0])  # head-first: slide towards the head
    for e in range(n_entry):
        step = ENTRY_SPEED * L * (e + 1) * (1 + e / 4)  # slow at first, gone within 7 frames
        center = (x_end + axis[0] * step, y_end + abs(axis[1]) * step)
        frames.append(AthleteFrame(pose, center, facing, L))
    return frames, entry_xy, n_take + n_flight
