"""Training-set pixel statistics for AlexNet's input: mean colour, mean image, RGB eigenbasis.

Krizhevsky et al. 2012 subtract the per-pixel mean image of the training set (sec. 2) and add
PCA lighting noise along the eigenvectors of the 3x3 covariance of all training RGB values
(sec. 4.1). Both are accumulated in one streaming pass over the images as the network sees them
(`image_decode.decode_image` at the training resize), in float64 sums, so memory does not grow
with the dataset and partial sums from several processes add up. The sums of uint8 values are
whole numbers, exact in float64 up to 2**53 (rgb_outer: ~2 M images of 256x256), so partial sums
added in any order give the very same statistics as one pass. Units: 0-255 pixel values
(eigenvalues in 0-255 squared). This module does not read files or write the manifest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np


@dataclass
class PixelSums:
    """Running sums over uint8 (S, S, 3) images; `merge` adds another process's sums."""

    size_px: int
    images: int = 0
    image_sum: np.ndarray | None = None  # (S, S, 3) float64
    rgb_outer: np.ndarray | None = None  # (3, 3) float64, sum of x x^T over every pixel

    def add(self, image: np.ndarray) -> None:
        if image.shape != (self.size_px, self.size_px, 3):
            raise ValueError(f"PixelSums: expected a ({self.size_px}, {self.size_px}, 3) image, "
                             f"got {image.shape}")
        pixels = image.reshape(-1, 3).astype(np.float64)
        if self.image_sum is None:
            self.image_sum = np.zeros(image.shape, np.float64)
            self.rgb_outer = np.zeros((3, 3), np.float64)
        self.image_sum += image
        self.rgb_outer += pixels.T @ pixels
        self.images += 1

    def merge(self, other: PixelSums) -> None:
        if other.images == 0:
            return
        if self.image_sum is None:
            self.image_sum, self.rgb_outer = other.image_sum.copy(), other.rgb_outer.copy()
        else:
            self.image_sum += other.image_sum
            self.rgb_outer += other.rgb_outer
        self.images += other.images

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The sums as named arrays (for an .npz file); `from_arrays` reads them back exactly."""
        if self.image_sum is None:
            raise ValueError("PixelSums: no images were added")
        return {"size_px": np.asarray(self.size_px), "images": np.asarray(self.images),
                "image_sum": self.image_sum, "rgb_outer": self.rgb_outer}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> PixelSums:
        return cls(size_px=int(arrays["size_px"]), images=int(arrays["images"]),
                   image_sum=np.asarray(arrays["image_sum"], np.float64),
                   rgb_outer=np.asarray(arrays["rgb_outer"], np.float64))


@dataclass(frozen=True)
class PixelStats:
    size_px: int
    num_images: int
    mean_image: np.ndarray
    """(S, S, 3) float32, the per-pixel mean over the training images."""
    mean_rgb: np.ndarray
    """(3,) mean over every training pixel."""
    eigval: np.ndarray
    """(3,) eigenvalues of the RGB covariance, largest first."""
    eigvec: np.ndarray
    """(3, 3): eigvec[i] is the unit eigenvector of eigval[i]; its largest component is
    positive (an eigenvector's sign is arbitrary; fixing it makes manifests reproducible)."""


def finish(sums: PixelSums) -> PixelStats:
    """Mean image, mean colour and the covariance's eigenbasis from the sums."""
    if sums.images == 0:
        raise ValueError("PixelSums: no images were added")
    pixels = sums.images * sums.size_px * sums.size_px
    mean_image = sums.image_sum / sums.images
    mean_rgb = mean_image.reshape(-1, 3).mean(axis=0)
    cov = sums.rgb_outer / pixels - np.outer(mean_rgb, mean_rgb)
    eigval, columns = np.linalg.eigh(cov)  # ascending, eigenvectors in columns
    order = np.argsort(eigval)[::-1]
    eigvec = columns[:, order].T
    signs = np.sign(eigvec[np.arange(3), np.abs(eigvec).argmax(axis=1)])
    return PixelStats(
        size_px=sums.size_px, num_images=sums.images,
        mean_image=mean_image.astype(np.float32), mean_rgb=mean_rgb,
        eigval=np.clip(eigval[order], 0.0, None), eigvec=eigvec * signs[:, None],
    )
