"""MNIST from its four IDX .gz files, split the way nndl splits it (numpy only).

Training images: the first `train_size` of the 60,000; validation: the last `validation_size`
(unused by the benchmarks); test: the 10,000 t10k images. Pixels are byte / 255 as float32 (the
division, not a multiply by 1/255, as nndl does it), labels as integers and one-hot float32 rows.
"""

import gzip
import struct
from pathlib import Path

import numpy as np

IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049


def read_idx(path):
    """The array in one IDX .gz file: images as (count, rows*cols) uint8, labels as (count,)."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic, count = struct.unpack(">II", raw[:8])
    if magic == IMAGES_MAGIC:
        rows, cols = struct.unpack(">II", raw[8:16])
        shape, offset = (count, rows * cols), 16
    elif magic == LABELS_MAGIC:
        shape, offset = (count,), 8
    else:
        raise ValueError(f"{path}: not an IDX image or label file (magic {magic})")
    size = int(np.prod(shape))
    if len(raw) - offset != size:
        raise ValueError(f"{path}: {len(raw) - offset} bytes of data, the header promises {size}")
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(shape)


def pixels(images):
    return images.astype(np.float32) / np.float32(255.0)


def one_hot(labels):
    return np.eye(10, dtype=np.float32)[labels]


def _split(data_dir, images, labels, first=None):
    d = Path(data_dir)
    x = read_idx(d / images)[:first]
    y = read_idx(d / labels)[:first]
    return pixels(x), y.astype(np.int64)


def load_train(data_dir, train_size=50_000):
    """The first `train_size` training images: float32 pixels (n, 784) and int64 labels (n,)."""
    return _split(data_dir, "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", train_size)


def load_test(data_dir):
    """The 10,000 test images: float32 pixels (10000, 784) and int64 labels (10000,)."""
    return _split(data_dir, "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
