"""Procedural 2D content: backgrounds, occluders and camera degradations (numpy + OpenCV).

All images are (H, W, 3) uint8 in **RGB** order (the renderer's order); the sampler converts the
final frame to BGR. Every function draws its randomness from the ``numpy.random.Generator`` it is
given, so a sample is reproducible from its seed.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

# --------------------------------------------------------------------------- helpers


def _rand_color(rng: np.random.Generator, sat: float = 0.6, lo: float = 0.05, hi: float = 0.95):
    """A random RGB colour (floats 0..1) with saturation up to ``sat``."""
    h = rng.uniform(0, 180)
    s = rng.uniform(0, sat) * 255
    v = rng.uniform(lo, hi) * 255
    hsv = np.uint8([[[h, s, v]]])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32) / 255.0


def smooth_noise(rng: np.random.Generator, h: int, w: int, cells: int, ch: int = 1) -> np.ndarray:
    """Low-frequency value noise in [0, 1]: a random ``cells``-wide grid resized with bicubic."""
    gh = max(2, int(round(cells * h / max(h, w))) + 1)
    gw = max(2, int(round(cells * w / max(h, w))) + 1)
    g = rng.random((gh, gw, ch), dtype=np.float32)
    out = cv2.resize(g, (w, h), interpolation=cv2.INTER_CUBIC)
    if out.ndim == 2:
        out = out[..., None]
    return np.clip(out, 0, 1)


# --------------------------------------------------------------------------- backgrounds


def _layer_gradient(rng, h, w):
    c0, c1 = _rand_color(rng), _rand_color(rng)
    a = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    t = (xx / w - 0.5) * math.cos(a) + (yy / h - 0.5) * math.sin(a) + 0.5
    t = np.clip(t, 0, 1)[..., None]
    return c0 * (1 - t) + c1 * t


def _layer_room(rng, h, w):
    """Wall + floor + door/window/shelf rectangles: a crude indoor scene."""
    wall = _rand_color(rng, sat=0.3, lo=0.3, hi=0.95)
    img = np.empty((h, w, 3), np.float32)
    img[:] = wall
    img *= (0.75 + 0.5 * smooth_noise(rng, h, w, 3))
    y_floor = int(h * rng.uniform(0.55, 1.1))
    if y_floor < h:
        floor = _rand_color(rng, sat=0.4, lo=0.15, hi=0.7)
        tilt = rng.uniform(-0.15, 0.15) * h
        pts = np.array([[0, y_floor - tilt], [w, y_floor + tilt], [w, h], [0, h]], np.int32)
        cv2.fillPoly(img, [pts], floor.tolist())
    for _ in range(rng.integers(1, 6)):
        x0, y0 = rng.uniform(-0.2, 1.0) * w, rng.uniform(-0.2, 0.9) * h
        rw, rh = rng.uniform(0.1, 0.5) * w, rng.uniform(0.1, 0.7) * h
        kind = rng.random()
        if kind < 0.25:  # bright window
            col = np.clip(_rand_color(rng, sat=0.2, lo=0.8, hi=1.0) * 1.2, 0, 1)
        else:
            col = _rand_color(rng, sat=0.5, lo=0.05, hi=0.9)
        p0, p1 = (int(x0), int(y0)), (int(x0 + rw), int(y0 + rh))
        cv2.rectangle(img, p0, p1, col.tolist(), -1)
        if rng.random() < 0.6:  # frame / shelf lines
            edge = (col * rng.uniform(0.3, 0.7)).tolist()
            cv2.rectangle(img, p0, p1, edge, max(1, int(rng.uniform(0.003, 0.02) * w)))
        if kind > 0.75:  # shelf with "books"
            n = rng.integers(3, 15)
            bw = rw / n
            for i in range(n):
                bh = rh * rng.uniform(0.3, 0.9)
                cv2.rectangle(
                    img,
                    (int(x0 + i * bw), int(y0 + rh - bh)),
                    (int(x0 + (i + 0.85) * bw), int(y0 + rh)),
                    _rand_color(rng, sat=0.8).tolist(),
                    -1,
                )
    return img


def _layer_shapes(rng, h, w, n: int):
    img = np.empty((h, w, 3), np.float32)
    img[:] = _rand_color(rng)
    for _ in range(n):
        col = _rand_color(rng, sat=0.9).tolist()
        k = rng.integers(0, 4)
        cx, cy = int(rng.uniform(0, w)), int(rng.uniform(0, h))
        s = max(2, int(rng.uniform(0.03, 0.4) * max(h, w)))
        if k == 0:
            ax = (s, max(1, int(s * rng.uniform(0.2, 1.0))))
            cv2.ellipse(img, (cx, cy), ax, rng.uniform(0, 180), 0, 360, col, -1)
        elif k == 1:
            cv2.rectangle(img, (cx - s, cy - s // 2), (cx + s, cy + s // 2), col, -1)
        elif k == 2:
            pts = rng.uniform(-s, s, (rng.integers(3, 7), 2)) + (cx, cy)
            cv2.fillPoly(img, [pts.astype(np.int32)], col)
        else:
            x1, y1 = int(rng.uniform(0, w)), int(rng.uniform(0, h))
            cv2.line(img, (cx, cy), (x1, y1), col, max(1, s // 20))
    return img


def _layer_texture(rng, h, w):
    """Wood grain, stripes/checks (fabric, tiles), bricks or marble-like noise."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32) / max(h, w)
    c0, c1 = _rand_color(rng, lo=0.1, hi=0.9), _rand_color(rng, lo=0.1, hi=0.9)
    k = rng.integers(0, 4)
    if k == 0:  # wood grain
        warp = smooth_noise(rng, h, w, 6)[..., 0] * rng.uniform(1, 4)
        a = rng.uniform(0, math.pi)
        u = xx * math.cos(a) + yy * math.sin(a)
        t = 0.5 + 0.5 * np.sin((u * rng.uniform(10, 60) + warp) * 2 * math.pi)
    elif k == 1:  # stripes / checks
        f = rng.uniform(4, 40)
        t = 0.5 + 0.5 * np.sign(np.sin(xx * f * 2 * math.pi))
        if rng.random() < 0.5:
            t = np.abs(t - (0.5 + 0.5 * np.sign(np.sin(yy * f * 2 * math.pi))))
    elif k == 2:  # bricks / tiles (grout lines)
        bh = rng.uniform(0.03, 0.12)
        bw = bh * rng.uniform(1.0, 3.0)
        row = np.floor(yy / bh)
        xs = xx + (row % 2) * bw * 0.5
        gx = np.abs(((xs / bw) % 1) - 0.5)
        gy = np.abs(((yy / bh) % 1) - 0.5)
        t = ((gx < 0.46) & (gy < 0.44)).astype(np.float32)
    else:  # marble / plaster
        n = smooth_noise(rng, h, w, 24)[..., 0] + 0.5 * smooth_noise(rng, h, w, 64)[..., 0]
        t = 0.5 + 0.5 * np.sin(n * rng.uniform(4, 12))
    t = t[..., None]
    return c0 * (1 - t) + c1 * t


def background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A procedural background (H, W, 3) uint8 RGB.

    A base layer (indoor "room", gradient, clutter of shapes or a material texture), optionally
    blended with a second layer, low-frequency illumination, and a depth-of-field blur. Generated
    at <= 256 px on the long side and resized (backgrounds are mostly out of focus).
    """
    s = min(1.0, 256.0 / max(width, height))
    h, w = max(8, int(height * s)), max(8, int(width * s))
    layers = [
        lambda: _layer_room(rng, h, w),
        lambda: _layer_gradient(rng, h, w),
        lambda: _layer_shapes(rng, h, w, int(rng.integers(3, 40))),
        lambda: _layer_texture(rng, h, w),
    ]
    probs = np.array([0.4, 0.15, 0.25, 0.2])
    img = layers[rng.choice(4, p=probs)]()
    if rng.random() < 0.5:
        other = layers[rng.choice(4, p=probs)]()
        m = smooth_noise(rng, h, w, int(rng.integers(2, 6)))
        if rng.random() < 0.5:
            m = (m > 0.5).astype(np.float32)
        img = img * (1 - m) + other * m
    img = img * (0.6 + 0.8 * smooth_noise(rng, h, w, 2))  # uneven illumination
    if rng.random() < 0.7:
        sigma = rng.uniform(0.3, 4.0) * max(h, w) / 256.0
        img = cv2.GaussianBlur(img, (0, 0), sigma)
    img = cv2.resize(img, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(img * 255.0, 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- occluders


def _shade(mask_f: np.ndarray, color: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Colour layer with a linear shading gradient across the occluder."""
    h, w = mask_f.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    a = rng.uniform(0, 2 * math.pi)
    g = ((xx - w / 2) * math.cos(a) + (yy - h / 2) * math.sin(a)) / max(h, w)
    g = 1.0 + g * rng.uniform(0.3, 1.2)
    return np.clip(color[None, None, :] * g[..., None], 0, 1)


def draw_hand(rng, img: np.ndarray, face_box: np.ndarray, skin_rgb: np.ndarray) -> np.ndarray:
    """Skin-coloured palm + fingers over part of the face. Returns the float mask (H, W)."""
    h, w = img.shape[:2]
    x0, y0, x1, y1 = face_box
    fs = max(x1 - x0, y1 - y0)
    cx = rng.uniform(x0, x1)
    cy = rng.uniform(y0 + 0.3 * (y1 - y0), y1 + 0.2 * fs)
    mask = np.zeros((h, w), np.float32)
    ang = rng.uniform(-180, 180)
    palm = (max(2, int(fs * rng.uniform(0.18, 0.3))), max(2, int(fs * rng.uniform(0.22, 0.35))))
    cv2.ellipse(mask, (int(cx), int(cy)), palm, ang, 0, 360, 1.0, -1, cv2.LINE_AA)
    rad = math.radians(ang - 90)
    for i in range(rng.integers(3, 6)):
        off = (i - 2) * palm[0] * 0.45
        bx = cx + off * math.cos(rad + math.pi / 2)
        by = cy + off * math.sin(rad + math.pi / 2)
        ln = palm[1] * rng.uniform(1.2, 1.9)
        bend = rng.uniform(-0.3, 0.3)
        ex, ey = bx + ln * math.cos(rad + bend), by + ln * math.sin(rad + bend)
        thick = max(2, int(palm[0] * rng.uniform(0.35, 0.5)))
        cv2.line(mask, (int(bx), int(by)), (int(ex), int(ey)), 1.0, thick, cv2.LINE_AA)
    mask = cv2.GaussianBlur(mask, (0, 0), max(0.5, fs * 0.005))
    col = np.clip(skin_rgb * rng.uniform(0.8, 1.15, 3) * rng.uniform(0.7, 1.1), 0, 1)
    layer = _shade(mask, col, rng)
    _composite(img, layer, mask)
    return mask


def draw_glasses(rng, img: np.ndarray, lm68: np.ndarray) -> np.ndarray:
    """Glasses frames around the eyes (2D). Returns a mask of what hides the eyes (sunglasses)."""
    h, w = img.shape[:2]
    mask = np.zeros((h, w), np.float32)
    frame = np.zeros((h, w), np.float32)
    le, re = lm68[36:42].mean(0), lm68[42:48].mean(0)
    iod = np.linalg.norm(re - le)
    if iod < 3:
        return mask
    ang = math.degrees(math.atan2(re[1] - le[1], re[0] - le[0]))
    ax = (int(iod * rng.uniform(0.35, 0.48)), int(iod * rng.uniform(0.22, 0.36)))
    t = max(1, int(iod * rng.uniform(0.03, 0.09)))
    sun = rng.random() < 0.25
    for c in (le, re):
        if sun:
            cv2.ellipse(mask, (int(c[0]), int(c[1])), ax, ang, 0, 360, 1.0, -1, cv2.LINE_AA)
        cv2.ellipse(frame, (int(c[0]), int(c[1])), ax, ang, 0, 360, 1.0, t, cv2.LINE_AA)
    d = (re - le) / iod
    p0, p1 = le + d * ax[0], re - d * ax[0]
    cv2.line(frame, tuple(p0.astype(int)), tuple(p1.astype(int)), 1.0, t, cv2.LINE_AA)
    for c, s in ((le, -1), (re, 1)):  # temples towards the ears
        q = c + s * d * ax[0]
        e = q + s * d * iod * rng.uniform(0.3, 0.7)
        cv2.line(frame, tuple(q.astype(int)), tuple(e.astype(int)), 1.0, t, cv2.LINE_AA)
    col = _rand_color(rng, sat=0.5, lo=0.02, hi=0.6)
    if sun:
        tint = _rand_color(rng, sat=0.4, lo=0.02, hi=0.2)
        _composite(img, np.broadcast_to(tint, img.shape).astype(np.float32), mask * 0.85)
    _composite(img, np.broadcast_to(col, img.shape).astype(np.float32), frame)
    return mask * 0.85


def draw_mask(rng, img: np.ndarray, lm68: np.ndarray) -> np.ndarray:
    """Face mask (surgical / cloth) from the nose bridge to below the chin. Returns the mask."""
    h, w = img.shape[:2]
    pts = np.concatenate([lm68[2:15], lm68[[28]]], axis=0)
    top = lm68[28]
    chin = lm68[8]
    down = chin - top
    poly = np.concatenate([lm68[1:16] + 0.06 * down, [lm68[15] * 0.5 + top * 0.5, top]], axis=0)
    poly = np.concatenate([poly, [lm68[1] * 0.5 + top * 0.5]], axis=0)
    mask = np.zeros((h, w), np.float32)
    hull = cv2.convexHull(np.concatenate([poly, pts]).astype(np.float32))
    cv2.fillConvexPoly(mask, hull.astype(np.int32), 1.0, cv2.LINE_AA)
    r = rng.random()
    if r < 0.5:
        col = np.array([0.55, 0.75, 0.9]) * rng.uniform(0.8, 1.1)
    elif r < 0.7:
        col = np.array([0.92, 0.92, 0.92]) * rng.uniform(0.8, 1.05)
    else:
        col = _rand_color(rng, lo=0.05, hi=0.8)
    layer = _shade(mask, np.clip(col, 0, 1).astype(np.float32), rng)
    for k in range(3):  # pleats
        a = top + down * (0.35 + 0.15 * k)
        b0, b1 = a - (lm68[16] - lm68[0]) * 0.35, a + (lm68[16] - lm68[0]) * 0.35
        cv2.line(layer, tuple(b0.astype(int)), tuple(b1.astype(int)), (col * 0.75).tolist(), 1)
    _composite(img, layer, mask)
    return mask


def draw_object(rng, img: np.ndarray, face_box: np.ndarray) -> np.ndarray:
    """A generic object (phone, cup, microphone...) overlapping the face box edge."""
    h, w = img.shape[:2]
    x0, y0, x1, y1 = face_box
    fs = max(x1 - x0, y1 - y0)
    mask = np.zeros((h, w), np.float32)
    cx = rng.uniform(x0 - 0.2 * fs, x1 + 0.2 * fs)
    cy = rng.uniform(y0, y1 + 0.3 * fs)
    sw, sh = fs * rng.uniform(0.15, 0.5), fs * rng.uniform(0.2, 0.8)
    box = ((cx, cy), (sw, sh), rng.uniform(0, 180))
    pts = cv2.boxPoints(box).astype(np.int32)
    cv2.fillConvexPoly(mask, pts, 1.0, cv2.LINE_AA)
    layer = _shade(mask, _rand_color(rng, sat=0.8, lo=0.05, hi=0.9), rng)
    _composite(img, layer, mask)
    return mask


def _composite(img: np.ndarray, layer: np.ndarray, mask: np.ndarray) -> None:
    """In place: img = img * (1 - mask) + layer * 255 * mask (img uint8 RGB, layer 0..1)."""
    ys, xs = np.nonzero(mask > 1e-3)
    if ys.size == 0:
        return
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    m = mask[y0:y1, x0:x1, None]
    sub = img[y0:y1, x0:x1].astype(np.float32)
    img[y0:y1, x0:x1] = np.clip(sub * (1 - m) + layer[y0:y1, x0:x1] * 255.0 * m, 0, 255).astype(
        np.uint8
    )


# --------------------------------------------------------------------------- camera effects


def motion_blur(rng, img: np.ndarray, max_len: float) -> np.ndarray:
    """Linear motion blur with a random direction and length up to ``max_len`` pixels."""
    n = int(rng.uniform(1, max(1.0, max_len)))
    if n < 2:
        return img
    k = np.zeros((n, n), np.float32)
    c = (n - 1) / 2.0
    a = rng.uniform(0, math.pi)
    dx, dy = math.cos(a) * c, math.sin(a) * c
    cv2.line(k, (int(round(c - dx)), int(round(c - dy))), (int(round(c + dx)), int(round(c + dy))),
             1.0, 1, cv2.LINE_AA)
    k /= k.sum()
    return cv2.filter2D(img, -1, k, borderType=cv2.BORDER_REFLECT)


def camera_effects(rng, img: np.ndarray, strength: float = 1.0) -> np.ndarray:
    """Exposure, white balance, vignette, blur, sensor noise, JPEG, in that order (RGB uint8)."""
    h, w = img.shape[:2]
    f = img.astype(np.float32) / 255.0
    if rng.random() < 0.8:  # white balance + exposure + contrast
        f = f * rng.uniform(0.85, 1.15, 3).astype(np.float32) * rng.uniform(0.7, 1.3)
        g = rng.uniform(0.8, 1.25)
        f = np.clip(f, 0, 1) ** g
    if rng.random() < 0.3:  # vignette
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        r2 = ((xx - w / 2) / (w / 2)) ** 2 + ((yy - h / 2) / (h / 2)) ** 2
        f = f * (1 - rng.uniform(0.1, 0.4) * r2 / 2)[..., None]
    if rng.random() < 0.25 * strength:  # defocus
        f = cv2.GaussianBlur(f, (0, 0), rng.uniform(0.4, 1.5) * max(h, w) / 400)
    if rng.random() < 0.3 * strength:
        f = motion_blur(rng, f, max(2.0, 0.02 * max(h, w)) * strength)
    if rng.random() < 0.8:  # shot + read noise
        sigma = rng.uniform(0.003, 0.04) * strength
        noise = rng.standard_normal(f.shape, dtype=np.float32)
        f = f + noise * (sigma * np.sqrt(np.clip(f, 0, 1) + 0.05))
        if rng.random() < 0.3:  # chroma blotches
            f = f + smooth_noise(rng, h, w, max(4, w // 8), 3) * sigma - sigma / 2
    out = np.clip(f * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if rng.random() < 0.7:
        q = int(rng.uniform(25, 95))
        ok, buf = cv2.imencode(
            ".jpg", cv2.cvtColor(out, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, q]
        )
        if ok:
            out = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return out
