"""The transform suite of ``haven eval``: what offenders and ordinary re-sharing do to a picture.

Each transform is a small named function on a Pillow RGB image, deterministic (noise is seeded from
the image's size), with its parameters in its name and in ``Transform.params``. Kinds:

- ``photometric``: the pixels change, the geometry does not (JPEG, resize, blur, gamma, noise, overlay,
  grayscale): PDQ's home ground;
- ``geometric``: the content moves inside the frame (crop, border, rotation, flips, framing);
- ``combined``: one of each, applied in order.

Percentages are of the image's own width (left, right) and height (top, bottom): ``crop_5`` removes 5 %
from every side (90 % of each dimension remains), ``pad_20_black`` adds a border of 20 % on every side
(the picture fills 1/1.4 of each dimension of the result).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageOps

Fn = Callable[[Image.Image], Image.Image]


@dataclass(frozen=True)
class Transform:
    """One named transform: ``apply(img)`` → a new RGB image."""

    name: str
    kind: str  # "photometric" | "geometric" | "combined"
    description: str
    apply: Fn
    params: dict[str, float | str] = field(default_factory=dict)


def jpeg(quality: int) -> Fn:
    """Re-encode as baseline JPEG at ``quality``."""
    def fn(img: Image.Image) -> Image.Image:
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=quality)
        return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    return fn


def resize(scale: float) -> Fn:
    """Scale both sides by ``scale`` (Lanczos, as image sites do)."""
    def fn(img: Image.Image) -> Image.Image:
        w, h = img.size
        return img.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.LANCZOS)
    return fn


def crop(frac: float, sides: str = "ltrb") -> Fn:
    """Remove ``frac`` of the width/height from each side named in ``sides`` (l, t, r, b)."""
    def fn(img: Image.Image) -> Image.Image:
        w, h = img.size
        dx, dy = round(w * frac), round(h * frac)
        box = (dx if "l" in sides else 0, dy if "t" in sides else 0,
               w - (dx if "r" in sides else 0), h - (dy if "b" in sides else 0))
        return img.crop(box)
    return fn


def pad(frac: float, fill: str) -> Fn:
    """Add a border of ``frac`` of the width/height on every side: ``black``, ``white`` or ``blur`` (the
    picture itself stretched over the canvas and blurred, as phone apps fill a letterbox)."""
    def fn(img: Image.Image) -> Image.Image:
        w, h = img.size
        dx, dy = round(w * frac), round(h * frac)
        size = (w + 2 * dx, h + 2 * dy)
        if fill == "blur":  # blurred at 1/8 size (the same look, a fraction of the cost), then enlarged
            small = img.resize((max(1, size[0] // 8), max(1, size[1] // 8)), Image.Resampling.BILINEAR)
            canvas = small.filter(ImageFilter.GaussianBlur(max(size) / 320)).resize(
                size, Image.Resampling.BILINEAR)
        else:
            canvas = Image.new("RGB", size, (0, 0, 0) if fill == "black" else (255, 255, 255))
        canvas.paste(img, (dx, dy))
        return canvas
    return fn


def letterbox(ratio: float) -> Fn:
    """Fit into a black canvas of aspect ``ratio`` (width/height), as a video frame or phone screen
    would: bars on two sides only."""
    def fn(img: Image.Image) -> Image.Image:
        w, h = img.size
        if w / h > ratio:
            size = (w, round(w / ratio))
        else:
            size = (round(h * ratio), h)
        canvas = Image.new("RGB", size, (0, 0, 0))
        canvas.paste(img, ((size[0] - w) // 2, (size[1] - h) // 2))
        return canvas
    return fn


def rotate(degrees: float) -> Fn:
    """Rotate counter-clockwise by ``degrees`` about the centre, same canvas, black corners (bicubic)."""
    def fn(img: Image.Image) -> Image.Image:
        return img.rotate(degrees, resample=Image.Resampling.BICUBIC, fillcolor=(0, 0, 0))
    return fn


def rotate_crop(degrees: float) -> Fn:
    """Rotate by ``degrees``, then crop to the largest centred rectangle of the same shape without
    corners (what an editor's straighten tool does)."""
    def fn(img: Image.Image) -> Image.Image:
        w, h = img.size
        r = img.rotate(degrees, resample=Image.Resampling.BICUBIC)
        a = np.radians(abs(degrees))
        # Largest centred w'×h' with w'/h' = w/h inside the rotated w×h frame.
        k = 1 / (np.cos(a) + max(w / h, h / w) * np.sin(a))
        cw, ch = round(w * k), round(h * k)
        return r.crop(((w - cw) // 2, (h - ch) // 2, (w - cw) // 2 + cw, (h - ch) // 2 + ch))
    return fn


def transpose(method: Image.Transpose) -> Fn:
    def fn(img: Image.Image) -> Image.Image:
        return img.transpose(method)
    return fn


def blur(radius: float) -> Fn:
    """Gaussian blur of ``radius`` px at 1,024 px of the longest side (scaled with the image)."""
    def fn(img: Image.Image) -> Image.Image:
        return img.filter(ImageFilter.GaussianBlur(radius * max(img.size) / 1024))
    return fn


def gamma(g: float) -> Fn:
    """Each channel ``v → 255·(v/255)^g`` (g = 2 darkens the mid-tones, 0.5 brightens them)."""
    table = [round(255 * (v / 255) ** g) for v in range(256)] * 3

    def fn(img: Image.Image) -> Image.Image:
        return img.point(table)
    return fn


def noise(sigma: float) -> Fn:
    """Add Gaussian noise of standard deviation ``sigma`` (0–255 scale), seeded by the image size."""
    def fn(img: Image.Image) -> Image.Image:
        a = np.asarray(img, dtype=np.float32)
        rng = np.random.default_rng(img.size[0] * 7919 + img.size[1])
        return Image.fromarray(np.clip(a + rng.normal(0, sigma, a.shape), 0, 255).astype(np.uint8))
    return fn


def overlay_text(img: Image.Image) -> Image.Image:
    """A semi-transparent white banner with text across the lower third (a watermark / caption)."""
    w, h = img.size
    base = img.convert("RGBA")
    layer = Image.new("RGBA", img.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    top = round(h * 0.62)
    draw.rectangle((0, top, w, top + round(h * 0.12)), fill=(255, 255, 255, 110))
    size = max(8, round(h * 0.08))
    try:
        from PIL import ImageFont

        font: ImageFont.ImageFont | ImageFont.FreeTypeFont = ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has no sized default font
        font = ImageFont.load_default()
    draw.text((round(w * 0.05), top + round(h * 0.02)), "shared @someone 2026", fill=(0, 0, 0, 200),
              font=font)
    return Image.alpha_composite(base, layer).convert("RGB")


def grayscale(img: Image.Image) -> Image.Image:
    return ImageOps.grayscale(img).convert("RGB")


def screenshot(img: Image.Image) -> Image.Image:
    """Screenshot-like framing: the picture scaled to 80 % of the width inside a phone-shaped canvas
    (9:19.5) with a dark status bar, a light app bar above it and a text bar below."""
    w, h = img.size
    cw = w
    ch = round(w * 19.5 / 9)
    pic = img.resize((round(w * 0.8), max(1, round(h * 0.8))), Image.Resampling.BILINEAR)
    canvas = Image.new("RGB", (cw, max(ch, pic.size[1] + round(0.3 * cw))), (250, 250, 250))
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, 0, cw, round(cw * 0.06)), fill=(20, 20, 20))  # status bar
    draw.rectangle((0, round(cw * 0.06), cw, round(cw * 0.16)), fill=(230, 230, 240))  # app bar
    y = round(cw * 0.2)
    canvas.paste(pic, ((cw - pic.size[0]) // 2, y))
    ty = y + pic.size[1] + round(cw * 0.03)
    for k in range(3):  # caption lines
        draw.rectangle((round(cw * 0.1), ty + k * round(cw * 0.04), round(cw * (0.9 - 0.15 * k)),
                        ty + k * round(cw * 0.04) + round(cw * 0.02)), fill=(120, 120, 120))
    return canvas


def chain(*fns: Fn) -> Fn:
    def fn(img: Image.Image) -> Image.Image:
        for f in fns:
            img = f(img)
        return img
    return fn


def _t(name: str, kind: str, description: str, fn: Fn, **params: float | str) -> Transform:
    return Transform(name, kind, description, fn, dict(params))


TRANSFORMS: tuple[Transform, ...] = (
    _t("jpeg_q90", "photometric", "JPEG re-encoded at quality 90", jpeg(90), quality=90),
    _t("jpeg_q50", "photometric", "JPEG re-encoded at quality 50", jpeg(50), quality=50),
    _t("resize_0.5", "photometric", "scaled to ½ (Lanczos)", resize(0.5), scale=0.5),
    _t("resize_0.25", "photometric", "scaled to ¼ (Lanczos)", resize(0.25), scale=0.25),
    _t("blur_2", "photometric", "Gaussian blur, radius 2 px per 1,024 px", blur(2), radius=2),
    _t("gamma_2", "photometric", "gamma 2 (darker mid-tones)", gamma(2), gamma=2),
    _t("gamma_0.5", "photometric", "gamma 0.5 (brighter mid-tones)", gamma(0.5), gamma=0.5),
    _t("noise_10", "photometric", "Gaussian noise, σ = 10", noise(10), sigma=10),
    _t("overlay_text", "photometric", "semi-transparent caption banner with text", overlay_text),
    _t("grayscale", "photometric", "converted to grey", grayscale),
    _t("crop_5", "geometric", "5 % cut from every side", crop(0.05), frac=0.05),
    _t("crop_10", "geometric", "10 % cut from every side", crop(0.10), frac=0.10),
    _t("crop_10_topleft", "geometric", "10 % cut from the left and top only", crop(0.10, "lt"),
       frac=0.10, sides="lt"),
    _t("pad_20_black", "geometric", "black border, 20 % on every side", pad(0.20, "black"),
       frac=0.20, fill="black"),
    _t("pad_20_white", "geometric", "white border, 20 % on every side", pad(0.20, "white"),
       frac=0.20, fill="white"),
    _t("pad_20_blur", "geometric", "border of the picture itself blurred, 20 % on every side",
       pad(0.20, "blur"), frac=0.20, fill="blur"),
    _t("letterbox_16_9", "geometric", "fitted into a black 16:9 (or 9:16) frame", letterbox(16 / 9),
       ratio=16 / 9),
    _t("rotate_4", "geometric", "rotated 4° counter-clockwise, black corners", rotate(4), degrees=4),
    _t("rotate_-4", "geometric", "rotated 4° clockwise, black corners", rotate(-4), degrees=-4),
    _t("rotate_4_crop", "geometric", "rotated 4°, cropped to the inner rectangle", rotate_crop(4),
       degrees=4),
    _t("rotate_90", "geometric", "rotated 90°", transpose(Image.Transpose.ROTATE_90), degrees=90),
    _t("flip_h", "geometric", "mirrored left–right", transpose(Image.Transpose.FLIP_LEFT_RIGHT)),
    _t("flip_v", "geometric", "mirrored top–bottom", transpose(Image.Transpose.FLIP_TOP_BOTTOM)),
    _t("screenshot", "geometric", "screenshot-like framing: 80 % inside a phone screen with bars",
       screenshot),
    _t("crop_5+jpeg_q50", "combined", "crop_5 then jpeg_q50", chain(crop(0.05), jpeg(50))),
    _t("pad_20_black+resize_0.5", "combined", "pad_20_black then resize_0.5",
       chain(pad(0.20, "black"), resize(0.5))),
    _t("rotate_4+jpeg_q50", "combined", "rotate_4 then jpeg_q50", chain(rotate(4), jpeg(50))),
    _t("flip_h+crop_5", "combined", "flip_h then crop_5",
       chain(transpose(Image.Transpose.FLIP_LEFT_RIGHT), crop(0.05))),
)

BY_NAME = {t.name: t for t in TRANSFORMS}
PHOTOMETRIC = tuple(t.name for t in TRANSFORMS if t.kind == "photometric")
