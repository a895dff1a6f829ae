"""The world around the athletes and the per-frame composition.

The background (hall, crowd, scoreboard, platform tower, a standing official, rippling water,
camera pan and shake, lighting, sensor noise) is drawn from its own random stream and never sees
a clip's score features. Athletes are rasterised without anti-aliasing into a part-label canvas;
the same canvas colours the image and gives the masks, so a mask pixel is set exactly where an
athlete is visible (not under water, not behind the splash).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from hmtools.synth.pose import AthleteFrame, Pose, Stage, placed_joints, segments

# Palettes (BGR) shared by athletes and crowd, so colour alone does not find the athlete.
SKIN = np.array([[120, 160, 225], [95, 135, 200], [70, 105, 165], [140, 175, 235],
                 [60, 85, 130]], dtype=np.float32)
CLOTH = np.array([[40, 40, 200], [200, 80, 30], [30, 30, 30], [230, 230, 230], [40, 160, 60],
                  [20, 120, 220], [120, 40, 120]], dtype=np.float32)
SPLASH_BGR = np.array([240, 238, 230], dtype=np.float32)
SHIFT = 2  # fractional bits for cv2 drawing coordinates
PARTS = ("far", "torso", "head", "near")
CROWD_BLUR = 0.6      # Gaussian sigma of the stands, x crowd scale (depth of field)
CROWD_CONTRAST = 0.6  # the stands' contrast against the wall
SYNC_OFFSET = (0.35, -0.2, 0.92)  # second athlete: dx, dy (x standing height), scale


@dataclass(frozen=True)
class Camera:
    """Crop offsets of the world per frame."""

    ox: np.ndarray  # (T,) float
    oy: np.ndarray  # (T,) float


def _pt(xy) -> tuple[int, int]:
    return int(round(xy[0] * (1 << SHIFT))), int(round(xy[1] * (1 << SHIFT)))


def draw_figure(canvas: np.ndarray, frame: AthleteFrame, origin_xy: tuple[float, float],
                part_base: int) -> None:
    """Rasterise one stick figure into ``canvas`` (uint8 part labels ``part_base + PARTS index``)."""
    pts = placed_joints(frame)
    ox, oy = origin_xy
    for part, a, b, width in segments(frame):
        value = part_base + PARTS.index(part)
        pa = _pt((pts[a][0] - ox, pts[a][1] - oy))
        if a == b:
            radius = int(round(width * (1 << SHIFT)))
            cv2.circle(canvas, pa, max(radius, 1 << SHIFT), value, -1, cv2.LINE_8, SHIFT)
        else:
            pb = _pt((pts[b][0] - ox, pts[b][1] - oy))
            cv2.line(canvas, pa, pb, value, max(1, int(round(width))), cv2.LINE_8, SHIFT)


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Moving average of a (T,) series with the ends held (a camera operator's lag-free follow)."""
    if window <= 1 or len(values) < 2:
        return values.astype(np.float64)
    half = window // 2
    padded = np.concatenate([np.full(half, values[0]), values, np.full(half, values[-1])])
    return np.convolve(padded, np.ones(2 * half + 1) / (2 * half + 1), mode="valid")


class Background:
    """A broadcast camera following the dive through a static world with a live crowd.

    The world (hall, crowd, platform tower, a standing official, water) is larger than the frame;
    the camera follows ``follow(stages)``, the athletes' *nominal* path (computed by the caller
    from the stage geometry and the dive's timing only, never from the scored features), held
    above the water at the entry, smoothed, with a little shake. A scoreboard overlay sits at a
    fixed place of the screen. Everything here comes from ``rng``, the background stream.

    Args:
        size_hw: frame size.
        n_frames: frames in the clip.
        rng: the background random stream.
        height_px: the athletes' standing height in pixels.
        synchronized: place a second stage beside the first.
        follow: ``stages -> (T, 2)`` world ``(x, y)`` the camera centres on; None: a still
            camera centred on the first stage.
    """

    def __init__(self, size_hw: tuple[int, int], n_frames: int, rng: np.random.Generator,
                 height_px: float, synchronized: bool,
                 follow: Callable[[list[Stage]], np.ndarray] | None = None):
        H, W = size_hw
        L = height_px
        self.size_hw, self.rng, self.n_frames = size_hw, rng, n_frames
        platform_y = float(L * rng.uniform(1.75, 1.95))
        water_y = platform_y + float(L * rng.uniform(2.0, 2.5))
        drift = float(L * rng.uniform(0.35, 0.5))
        edge_x = float(0.6 * W + L * rng.uniform(0.8, 1.6))
        sync_dx, sync_dy, sync_scale = (SYNC_OFFSET[0] * L, SYNC_OFFSET[1] * L, SYNC_OFFSET[2])
        self.stages = [Stage(edge_x, platform_y, water_y, L, drift)]
        if synchronized:
            self.stages.append(Stage(edge_x + sync_dx, platform_y + sync_dy, water_y + sync_dy,
                                     L * sync_scale, drift))
        self.pano_hw = (int(math.ceil(water_y + 0.45 * H)) + 2,
                        int(math.ceil(edge_x + drift + sync_dx + 0.8 * W)) + 2)
        PH, PW = self.pano_hw
        self.camera = self._camera(follow, rng)

        self.water_bgr = np.array([rng.uniform(150, 200), rng.uniform(110, 150),
                                   rng.uniform(20, 60)], dtype=np.float32)
        self.gain = float(rng.uniform(0.85, 1.1))
        self.crowd = self._panoramas(rng, L)
        self.block = 12
        self.noise: np.ndarray | None = None
        self.board_xy = (float(rng.uniform(1, max(0.78 * W - 1, 2))),
                         float(rng.uniform(1, 0.1 * H)))
        self.board_text = [f"{rng.uniform(10, 99):.1f}" for _ in range(n_frames // 6 + 1)]

    def _camera(self, follow, rng: np.random.Generator) -> Camera:
        H, W = self.size_hw
        PH, PW = self.pano_hw
        n = self.n_frames
        if follow is None:
            st = self.stages[0]
            centre = np.tile([st.edge_x, st.platform_y], (n, 1)).astype(np.float64)
        else:
            centre = np.asarray(follow(self.stages), np.float64).reshape(n, 2)
        water_y = min(st.water_y for st in self.stages)
        cy = np.minimum(centre[:, 1], water_y - 0.2 * H)  # keep the water line in view
        window = max(3, n // 10) | 1
        t = np.arange(n)
        shake = rng.uniform(0.5, 1.2) * np.sin(2 * math.pi * t / rng.uniform(6, 12)
                                                 + rng.uniform(0, 2 * math.pi))
        ox = np.clip(smooth(centre[:, 0], window) - W / 2 + shake, 0, PW - W - 1)
        oy = np.clip(smooth(cy, window) - H / 2 + 0.5 * shake, 0, PH - H - 1)
        return Camera(ox, oy)

    def _panoramas(self, rng: np.random.Generator, L: float) -> np.ndarray:
        """Three versions of the static world (crowd members bob between them)."""
        H, W = self.size_hw
        PH, PW = self.pano_hw
        top, bottom = rng.uniform(20, 70, size=3), rng.uniform(60, 120, size=3)
        ramp = np.linspace(0, 1, PH, dtype=np.float32)[:, None, None]
        wall = (top + (bottom - top) * ramp).astype(np.float32) * np.ones((1, PW, 1), np.float32)
        cs = L / 35  # crowd members are small, distant figures (about a sixth of the athlete)
        rows = np.arange(0.04 * PH, 0.6 * PH, 8.5 * cs)
        people = []
        for y in rows:
            x = rng.uniform(0, 4)
            while x < PW:
                people.append((x, y + rng.uniform(-1, 1), SKIN[rng.integers(len(SKIN))],
                               CLOTH[rng.integers(len(CLOTH))], rng.integers(-1, 2, size=3)))
                x += rng.uniform(6, 11) * cs
        stage = self.stages[0]
        tower_left = stage.edge_x - rng.uniform(0.8, 1.3) * L
        official = None
        if rng.uniform() < 0.7:
            official = (float(rng.uniform(tower_left + 0.1 * L, stage.edge_x - 0.3 * L)),
                        SKIN[rng.integers(len(SKIN))], CLOTH[rng.integers(len(CLOTH))])
        out = np.empty((3, PH, PW, 3), dtype=np.uint8)
        for k in range(3):
            img = wall.copy()
            for x, y, skin, cloth, bob in people:
                yy = y + bob[k]
                cv2.ellipse(img, _pt((x, yy + 3 * cs)), _pt((2.2 * cs, 2.6 * cs)), 0, 0, 360,
                            cloth.tolist(), -1, cv2.LINE_8, SHIFT)
                cv2.circle(img, _pt((x, yy)), int(1.6 * cs * (1 << SHIFT)), skin.tolist(), -1,
                           cv2.LINE_8, SHIFT)
            # the stands are out of focus and in shadow, as behind a broadcast camera's subject
            img = wall + CROWD_CONTRAST * (cv2.GaussianBlur(img, (0, 0), CROWD_BLUR * cs) - wall)
            for st in self.stages[::-1]:
                shade = 150 if st is stage else 120
                x0, x1 = max(int(tower_left), 2), int(round(st.edge_x))
                y0 = int(round(st.platform_y))
                img[y0:int(st.water_y) + 1, x0:x1] = (shade - 30, shade - 25, shade - 20)
                img[y0:y0 + max(3, int(0.06 * L)), x0 - 2:x1] = (shade + 40, shade + 40, shade + 45)
            if official is not None:
                ox_, skin, cloth = official
                lower = stage.platform_y + 0.45 * (stage.water_y - stage.platform_y)
                img[int(lower):int(lower) + 2, max(int(tower_left), 0):int(stage.edge_x)] = (190, 190, 195)
                figure = AthleteFrame(Pose(shoulder=0.3 + 0.2 * k, spread=0.15),
                                      (ox_, lower - 0.52 * L), 1, L * 0.95)
                canvas = np.zeros((PH, PW), np.uint8)
                draw_figure(canvas, figure, (0.0, 0.0), 1)
                lut = np.array([[0, 0, 0], skin * 0.75, cloth, skin, skin], dtype=np.float32)
                img = np.where(canvas[..., None] > 0, lut[canvas], img)
            out[k] = np.clip(img, 0, 255).astype(np.uint8)
        return out

    def frame(self, t: int) -> tuple[np.ndarray, float, float]:
        """Background of frame ``t`` (float32 ``(H, W, 3)``) and its crop origin ``(ox, oy)``."""
        H, W = self.size_hw
        ox, oy = float(self.camera.ox[t]), float(self.camera.oy[t])
        x0, y0 = int(round(ox)), int(round(oy))
        # the crowd bobs: each block of columns shows one of the three panoramas
        img = np.empty((H, W, 3), np.float32)
        phases = self.rng.integers(0, 3, size=W // self.block + 2)
        start = 0
        for k, phase in enumerate(phases):
            stop = min(W, (x0 // self.block + k + 1) * self.block - x0)
            if stop > start:
                img[:, start:stop] = self.crowd[phase, y0:y0 + H, x0 + start:x0 + stop]
                start = stop
        # scoreboard, digits changing every 6 frames
        bx, by = int(round(self.board_xy[0])), int(round(self.board_xy[1]))  # screen overlay
        bw, bh = int(0.2 * W), int(0.11 * H)
        cv2.rectangle(img, (bx, by), (bx + bw, by + bh), (25, 20, 20), -1)
        cv2.putText(img, self.board_text[t // 6], (bx + 2, by + bh - 2), cv2.FONT_HERSHEY_PLAIN,
                    0.06 * H / 8, (60, 220, 240), 1, cv2.LINE_8)
        # water ripples
        wy = int(math.ceil(self.stages[-1].water_y - oy)) if len(self.stages) > 1 else \
            int(math.ceil(self.stages[0].water_y - oy))
        wy = min(max(wy, 0), H)
        yy, xx = np.mgrid[wy:H, 0:W].astype(np.float32)
        ripple = np.sin(0.9 * (xx + ox) + 0.7 * (yy + oy) + 0.6 * t) * 14 + \
            np.sin(0.23 * (xx + ox) - 0.4 * t) * 8
        img[wy:] = self.water_bgr + ripple[..., None] * np.array([1.0, 0.8, 0.5], np.float32)
        return img, ox, oy

    def finish(self, img: np.ndarray, t: int) -> np.ndarray:
        """Lighting gain and sensor noise (from a per-clip bank of noise fields); uint8."""
        if self.noise is None:
            self.noise = self.rng.normal(0, 2.5, size=(5, *img.shape)).astype(np.float32)
        img *= self.gain
        img += self.noise[(t * 3) % len(self.noise)]
        return np.clip(img, 0, 255, out=img).astype(np.uint8)


def athlete_lut(rng: np.random.Generator, n_athletes: int) -> np.ndarray:
    """Part-label -> BGR colour table ``(1 + 4 * n_athletes, 3)`` (skin and suit from the crowd's palettes)."""
    lut = np.zeros((1 + 4 * n_athletes, 3), np.float32)
    skin = SKIN[rng.integers(len(SKIN))]
    suit = CLOTH[rng.integers(len(CLOTH))]
    for a in range(n_athletes):
        dim = 0.96 if a == 0 else 0.85  # close to, never exactly, a crowd colour
        base = 1 + 4 * a
        lut[base:base + 4] = np.stack([skin * 0.75, suit, skin, skin]) * dim
    return lut


def draw_splash(canvas: np.ndarray, center_xy: tuple[float, float], radius: float,
                droplets: np.ndarray) -> None:
    """A crown of foam (filled ellipse on the water line) and droplets, into a uint8 canvas."""
    if radius <= 0:
        return
    cv2.ellipse(canvas, _pt(center_xy), _pt((radius, 0.8 * radius)), 0, 0, 360, 1, -1,
                cv2.LINE_8, SHIFT)
    for dx, dy, r in droplets:
        cv2.circle(canvas, _pt((center_xy[0] + dx * radius, center_xy[1] - dy * radius)),
                   int(r * (1 << SHIFT)), 1, -1, cv2.LINE_8, SHIFT)
