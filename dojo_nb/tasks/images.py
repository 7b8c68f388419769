"""Playground image tasks: new 8x8 digit images made from the source's by seeded augmentation.

Every generated image blends two source images of one class, warps the blend by a random
rotation, scale, shear and shift, changes the ink's gain, adds pixel noise and occasional
blotches, and requantises to the source's 0..16 grey levels; a small share of labels is
replaced at random. Rows are new images, so matching them to the source is approximate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.ndimage import map_coordinates

from dojo_nb.tasks.playground import random_ids
from dojo_nb.tasks.authoring import write_competition
from dojo_nb.tasks.secret import task_seed
from dojo_nb.tasks.size import scaled


@dataclass(frozen=True)
class ImageSpec:
    task_id: str
    load_source: Callable[[], tuple[np.ndarray, np.ndarray]]  # (images n x h x w, labels)
    target: str
    n_train: int
    n_test: int
    flip: float = 0.01
    noise: float = 1.2
    levels: int = 16
    id_prefix: str = "img"

    def columns(self, h: int, w: int) -> list[str]:
        return [f"px_{r}_{c}" for r in range(h) for c in range(w)]

    def generate(self, seed: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        images, labels = self.load_source()
        n = scaled(self.n_train) + scaled(self.n_test)
        h, w = images.shape[1:]
        classes = np.unique(labels)
        by_class = {c: np.flatnonzero(labels == c) for c in classes}
        y = rng.choice(classes, size=n, p=np.array([len(by_class[c]) for c in classes]) / len(labels))
        centre = np.array([(h - 1) / 2, (w - 1) / 2])
        first, second = np.empty(n, dtype=int), np.empty(n, dtype=int)
        for c in classes:  # two source images of the row's class
            rows = np.flatnonzero(y == c)
            first[rows] = rng.choice(by_class[c], len(rows))
            second[rows] = rng.choice(by_class[c], len(rows))
        mix = rng.uniform(0.0, 0.4, (n, 1, 1))
        blend = (1 - mix) * images[first] + mix * images[second]
        angle, scale = rng.normal(0, 0.15, n), rng.uniform(0.88, 1.12, n)
        shear, shift = rng.normal(0, 0.08, n), rng.normal(0, 0.45, (n, 2))
        cos, sin = np.cos(angle) / scale, np.sin(angle) / scale
        matrix = np.stack([np.stack([cos, cos * shear - sin], -1), np.stack([sin, sin * shear + cos], -1)], -2)
        grid = np.stack(np.meshgrid(np.arange(h), np.arange(w), indexing="ij"), -1).reshape(-1, 2) - centre
        coords = grid @ matrix.transpose(0, 2, 1) + centre + shift[:, None, :]  # where each output pixel reads
        index = np.broadcast_to(np.arange(n)[:, None], coords.shape[:2])
        out = map_coordinates(blend, [index, coords[..., 0], coords[..., 1]], order=1, mode="constant").reshape(n, h, w)
        gain = rng.uniform(0.8, 1.2, (n, 1, 1))
        out = out * gain + rng.normal(0, self.noise, out.shape)
        blot = rng.random(n) < 0.1
        rr, cc = rng.integers(0, h, blot.sum()), rng.integers(0, w, blot.sum())
        out[np.flatnonzero(blot), rr, cc] += rng.uniform(6, 16, blot.sum())
        pixels = np.clip(np.round(out), 0, self.levels).astype(int).reshape(n, h * w)
        flip = rng.random(n) < self.flip
        y[flip] = rng.choice(classes, size=int(flip.sum()))
        return pixels, y

    def build(self, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        pixels, y = self.generate(seed)
        h = w = int(round(np.sqrt(pixels.shape[1])))
        frame = pd.DataFrame(pixels, columns=self.columns(h, w))
        frame[self.target] = y.astype(int)
        n_train = scaled(self.n_train)
        return frame.iloc[:n_train].reset_index(drop=True), frame.iloc[n_train:].reset_index(drop=True)

    def rows(self) -> tuple[int, int]:
        """Train and test rows (images) at the current task size."""
        return scaled(self.n_train), scaled(self.n_test)

    def source(self) -> pd.DataFrame:
        images, labels = self.load_source()
        frame = pd.DataFrame(images.reshape(len(images), -1).astype(int), columns=self.columns(*images.shape[1:]))
        frame[self.target] = labels.astype(int)
        return frame

    def prepare(self, raw, public: Path, private: Path) -> None:
        seed = task_seed(self.task_id)
        train, test = self.build(seed)
        ids = random_ids(np.random.default_rng(seed + 1), len(train) + len(test), self.id_prefix)
        write_competition(Path(public), Path(private), train, test, target=self.target, kind="label",
                          ids=ids, seed=seed % 2**32)
