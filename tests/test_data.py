"""nerve.data: IDX reading (synthetic files written here, and the real Fashion-MNIST files when installed),
DataLoader batching and determinism, the batched fast path, random_split, and every transform."""
import gzip
import os
import struct

import numpy as np
import pytest

import nerve
from nerve.data import DataLoader, Dataset, Subset, TensorDataset, default_collate, random_split
from nerve.data import transforms as T
from nerve.data.datasets import Digits, FashionMNIST, read_idx
from nerve.data.datasets import fashion_mnist as fm

REAL = "/usr/share/datasets/fashion-mnist"


def write_idx(path, arr, gz=True, code=0x08):
    arr = np.asarray(arr)
    header = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    body = arr.astype({0x08: np.uint8, 0x0C: ">i4", 0x0D: ">f4"}[code]).tobytes()
    with (gzip.open if gz else open)(path, "wb") as f:
        f.write(header + body)
    return path


def fake_fashion(root, n_train=50, n_test=20, seed=0, label_max=9):
    os.makedirs(root, exist_ok=True)
    rng = np.random.default_rng(seed)
    for train, n in ((True, n_train), (False, n_test)):
        write_idx(os.path.join(root, fm.FILES[(train, "images")]), rng.integers(0, 256, (n, 28, 28)))
        write_idx(os.path.join(root, fm.FILES[(train, "labels")]), rng.integers(0, label_max + 1, n))
    return root


# ---- IDX --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("code,dtype", [(0x08, np.uint8), (0x0C, np.int32), (0x0D, np.float32)])
def test_read_idx_round_trip(tmp_path, gz, code, dtype):
    arr = (np.arange(2 * 3 * 4) % 200).reshape(2, 3, 4).astype(dtype)
    p = write_idx(tmp_path / ("a.idx" + (".gz" if gz else "")), arr, gz, code)
    out = read_idx(p)
    assert out.dtype == np.dtype(dtype) and out.shape == (2, 3, 4)
    assert np.array_equal(out, arr)


def test_read_idx_corrupt_files(tmp_path):
    good = write_idx(tmp_path / "good.gz", np.zeros((4, 5)), gz=True)
    raw = gzip.open(good).read()
    cases = {
        "truncated body": raw[:-3],
        "extra bytes": raw + b"\0",
        "bad magic": b"\1\2" + raw[2:],
        "header cut": raw[:6],
        "empty": b"",
    }
    for name, data in cases.items():
        p = tmp_path / f"{name.replace(' ', '_')}.gz"
        with gzip.open(p, "wb") as f:
            f.write(data)
        with pytest.raises(ValueError, match=r"\[read_idx\]"):
            read_idx(p)
    broken = tmp_path / "notgzip.gz"
    broken.write_bytes(b"this is not a gzip stream")
    with pytest.raises(ValueError, match=r"not a readable IDX file"):
        read_idx(broken)
    half = tmp_path / "half.gz"
    half.write_bytes(good.read_bytes()[:20])  # a gzip stream cut short
    with pytest.raises(ValueError, match=r"\[read_idx\]"):
        read_idx(half)
    with pytest.raises(ValueError, match="SHA-256"):
        read_idx(good, sha256="0" * 64)


def test_fashion_mnist_on_synthetic_files(tmp_path):
    root = fake_fashion(str(tmp_path))
    ds = FashionMNIST(root, train=True, verify=False)
    assert len(ds) == 50
    x, y = ds[3]
    assert tuple(x.shape) == (1, 28, 28) and x.dtype == nerve.float32 and y.dtype == nerve.int64
    raw = read_idx(os.path.join(root, fm.FILES[(True, "images")]))
    assert np.allclose(ds.data.numpy()[:, 0], raw / 255.0)
    assert len(FashionMNIST(root, train=False, verify=False)) == 20
    # published checksums do not match these files
    with pytest.raises(ValueError, match="SHA-256"):
        FashionMNIST(root, train=True)


def test_fashion_mnist_bad_files(tmp_path):
    root = fake_fashion(str(tmp_path), label_max=12)
    with pytest.raises(ValueError, match=r"label 1[0-2] is outside the 10 classes"):
        FashionMNIST(root, train=True, verify=False)
    write_idx(os.path.join(root, fm.FILES[(True, "labels")]), np.zeros(49))
    with pytest.raises(ValueError, match=r"50 images but 49 labels"):
        FashionMNIST(root, train=True, verify=False)


def test_fashion_mnist_missing_files_message(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        FashionMNIST(str(tmp_path / "nowhere"), train=True)
    msg = str(e.value)
    assert "dataset-fashion-mnist" in msg and "root=" in msg and "train-images-idx3-ubyte.gz" in msg


def test_fashion_mnist_search_order(tmp_path, monkeypatch):
    root = fake_fashion(str(tmp_path / "fashion-mnist"))
    monkeypatch.setenv("NERVE_DATA", str(tmp_path))
    assert str(fm.find_file(fm.FILES[(True, "labels")], None, download=False)).startswith(root)


@pytest.mark.skipif(not os.path.exists(os.path.join(REAL, "t10k-labels-idx1-ubyte.gz")),
                    reason="the Debian package dataset-fashion-mnist is not installed")
def test_real_fashion_mnist_test_split():
    ds = FashionMNIST(train=False)  # checksums verified
    assert len(ds) == 10000 and tuple(ds.data.shape) == (10000, 1, 28, 28)
    assert np.bincount(ds.targets.numpy()).tolist() == [1000] * 10
    px = ds.data.numpy()
    assert 0 <= px.min() and px.max() <= 1 and abs(px.mean() - 0.2868) < 0.01


def test_digits():
    train, test = Digits(train=True), Digits(train=False)
    assert len(train) + len(test) == 1797 and len(test) == 359
    x, y = train[0]
    assert tuple(x.shape) == (1, 8, 8) and 0 <= float(x.min()) and float(x.max()) <= 1
    assert len(Digits(train=None)) == 1797


# ---- DataLoader -----------------------------------------------------------------------------------------
class Counting(Dataset):
    """A per-sample dataset that counts __getitem__ calls."""

    def __init__(self, n):
        self.x = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
        self.calls = 0

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        self.calls += 1
        return nerve.from_numpy(self.x[i]), int(i)


def _collect(loader):
    return [tuple(t.numpy().copy() if hasattr(t, "numpy") else t for t in b) for b in loader]


def test_batching_and_lengths():
    ds = TensorDataset(nerve.arange(10).float(), nerve.arange(10))
    sizes = [len(y) for _, y in DataLoader(ds, batch_size=4)]
    assert sizes == [4, 4, 2] and len(DataLoader(ds, batch_size=4)) == 3
    assert [len(y) for _, y in DataLoader(ds, batch_size=4, drop_last=True)] == [4, 4]
    assert len(DataLoader(ds, batch_size=4, drop_last=True)) == 2
    xs = np.concatenate([x.numpy() for x, _ in DataLoader(ds, batch_size=3)])
    assert np.array_equal(xs, np.arange(10))
    single = list(DataLoader(ds, batch_size=None))
    assert len(single) == 10 and single[2][1].item() == 2


def test_shuffle_determinism():
    ds = TensorDataset(nerve.arange(100))

    def order(loader):
        return np.concatenate([b[0].numpy() for b in loader])

    a, b = DataLoader(ds, batch_size=7, shuffle=True, seed=5), DataLoader(ds, batch_size=7, shuffle=True, seed=5)
    ea1, ea2 = order(a), order(a)
    assert np.array_equal(ea1, order(b)) and np.array_equal(ea2, order(b))
    assert not np.array_equal(ea1, ea2)  # a new order every epoch
    assert sorted(ea1.tolist()) == list(range(100))
    assert not np.array_equal(ea1, order(DataLoader(ds, batch_size=7, shuffle=True, seed=6)))
    nerve.manual_seed(1)
    g1 = order(DataLoader(ds, batch_size=7, shuffle=True))
    nerve.manual_seed(1)
    assert np.array_equal(g1, order(DataLoader(ds, batch_size=7, shuffle=True)))
    gen = nerve.Generator().manual_seed(5)
    assert np.array_equal(order(DataLoader(ds, batch_size=7, shuffle=True, generator=gen)), ea1)


def test_fast_path_matches_per_sample_path():
    ds = Counting(23)
    tensors = TensorDataset(ds.x, np.arange(23))
    slow = _collect(DataLoader(ds, batch_size=5, shuffle=True, seed=1))
    assert ds.calls == 23
    fast = _collect(DataLoader(tensors, batch_size=5, shuffle=True, seed=1))
    assert len(slow) == len(fast)
    for (sx, sy), (fx, fy) in zip(slow, fast):
        assert np.array_equal(sx, fx) and np.array_equal(sy, fy)


def test_in_memory_dataset_takes_the_batched_path(tmp_path, monkeypatch):
    ds = FashionMNIST(fake_fashion(str(tmp_path)), verify=False,
                      transform=T.Compose([T.RandomCrop(28, padding=2), T.Normalize(0.5, 0.5)]))
    monkeypatch.setattr(type(ds), "__getitem__", lambda self, i: pytest.fail("per-sample path taken"))
    batches = list(DataLoader(ds, batch_size=16, shuffle=True, seed=0))
    assert [len(y) for _, y in batches] == [16, 16, 16, 2]
    assert tuple(batches[0][0].shape) == (16, 1, 28, 28)
    sub = Subset(ds, np.arange(10, 30))
    (x, y), = list(DataLoader(sub, batch_size=32))
    assert np.array_equal(y.numpy(), ds.targets.numpy()[10:30])


def test_prefetch_threads_give_the_same_batches(tmp_path):
    ds = FashionMNIST(fake_fashion(str(tmp_path), n_train=200), verify=False,
                      transform=T.Compose([T.RandomCrop(28, padding=3), T.RandomHorizontalFlip(),
                                           T.RandomErasing(p=0.7), T.GaussianNoise(sigma=0.05)]))
    base = _collect(DataLoader(ds, batch_size=16, shuffle=True, seed=3))
    for workers in (1, 3):
        got = _collect(DataLoader(ds, batch_size=16, shuffle=True, seed=3, num_workers=workers, prefetch_factor=2))
        assert len(got) == len(base)
        for (a, b), (c, d) in zip(base, got):
            assert np.array_equal(a, c) and np.array_equal(b, d)


def test_prefetch_propagates_errors():
    class Bad(Dataset):
        def __len__(self):
            return 10

        def __getitem__(self, i):
            if i == 7:
                raise KeyError("sample 7 is broken")
            return np.zeros(2, np.float32)

    with pytest.raises(KeyError, match="sample 7"):
        list(DataLoader(Bad(), batch_size=2, num_workers=2))


def test_collate_fn_and_default_collate():
    ds = Counting(6)
    batches = list(DataLoader(ds, batch_size=4, collate_fn=lambda samples: len(samples)))
    assert batches == [4, 2]
    out = default_collate([{"a": np.ones(2, np.float32), "b": 1, "s": "x"}, {"a": np.zeros(2, np.float32), "b": 2,
                                                                              "s": "y"}])
    assert tuple(out["a"].shape) == (2, 2) and out["b"].dtype == nerve.int64 and out["s"] == ["x", "y"]
    x, y = default_collate([(nerve.ones(3), 0.5), (nerve.zeros(3), 1.5)])
    assert tuple(x.shape) == (2, 3) and y.dtype == nerve.float32


def test_sampler():
    ds = TensorDataset(nerve.arange(10))
    got = np.concatenate([b[0].numpy() for b in DataLoader(ds, batch_size=3, sampler=[9, 8, 1, 0])])
    assert got.tolist() == [9, 8, 1, 0]


def test_loader_bad_arguments():
    ds = TensorDataset(nerve.arange(10))
    for kw, msg in [(dict(batch_size=0), "batch_size should be a positive"), (dict(num_workers=-1), "num_workers"),
                    (dict(prefetch_factor=2), "prefetch_factor"), (dict(shuffle=True, sampler=[0]), "sampler"),
                    (dict(seed=1, generator=nerve.Generator()), "generator or seed")]:
        with pytest.raises(ValueError, match=msg):
            DataLoader(ds, **kw)
    with pytest.raises(ValueError, match=r"size mismatch between tensors: tensor 0 has 10 rows, tensor 1 has 9"):
        TensorDataset(nerve.arange(10), nerve.arange(9))


def test_random_split():
    ds = TensorDataset(nerve.arange(10))
    a, b = random_split(ds, [7, 3], generator=nerve.Generator().manual_seed(0))
    ia, ib = a.indices.tolist(), b.indices.tolist()
    assert len(ia) == 7 and len(ib) == 3 and sorted(ia + ib) == list(range(10))
    parts = random_split(ds, [0.5, 0.3, 0.2])
    assert [len(p) for p in parts] == [5, 3, 2]
    parts = random_split(TensorDataset(nerve.arange(11)), [0.5, 0.5])
    assert sorted(len(p) for p in parts) == [5, 6]
    with pytest.raises(ValueError, match="does not equal the length"):
        random_split(ds, [5, 6])
    (x,), = list(DataLoader(a, batch_size=10))
    assert sorted(x.numpy().tolist()) == sorted(ia)


# ---- transforms ---------------------------------------------------------------------------------------
def _batch(n=32, c=2, h=10, w=9, seed=0):
    return np.random.default_rng(seed).random((n, c, h, w), dtype=np.float32)


def test_normalize():
    x = _batch()
    out = T.Normalize([0.5, 0.25], [0.5, 2.0])(nerve.from_numpy(x))
    assert isinstance(out, nerve.Tensor)
    ref = (x - np.array([0.5, 0.25], np.float32)[:, None, None]) / np.array([0.5, 2.0], np.float32)[:, None, None]
    assert np.allclose(out.numpy(), ref, atol=1e-6)
    assert np.allclose(T.Normalize(0.5, 0.5)(x[0]), (x[0] - 0.5) / 0.5, atol=1e-6)
    with pytest.raises(ValueError, match="division by zero"):
        T.Normalize(0, 0)
    with pytest.raises(ValueError, match="3 channels"):
        T.Normalize([0, 0], [1, 1])(np.zeros((3, 4, 4), np.float32))
    with pytest.raises(ValueError, match=r"expected an image \(C, H, W\)"):
        T.Normalize(0, 1)(np.zeros((4, 4), np.float32))


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "symmetric"])
def test_random_crop_batch_is_a_window_of_the_padded_image(mode):
    x = _batch(h=8, w=8)
    crop = T.RandomCrop((8, 7), padding=2, padding_mode=mode, fill=0.5)
    out = crop(x)
    assert out.shape == (32, 2, 8, 7)
    npmode = {"constant": "constant", "edge": "edge", "reflect": "reflect", "symmetric": "symmetric"}[mode]
    kw = {"constant_values": 0.5} if mode == "constant" else {}
    padded = np.pad(x, [(0, 0), (0, 0), (2, 2), (2, 2)], mode=npmode, **kw)
    offsets = set()
    for i in range(len(x)):
        hits = [(t, l) for t in range(5) for l in range(6) if np.array_equal(padded[i, :, t:t + 8, l:l + 7], out[i])]
        assert hits, f"sample {i} is not a crop of its padded image"
        offsets.add(hits[0])
    assert len(offsets) > 5  # each image of a batch draws its own offset


def test_random_crop_single_and_errors():
    x = _batch(1)[0]
    out = T.RandomCrop(6)(nerve.from_numpy(x))
    assert tuple(out.shape) == (2, 6, 6)
    assert T.RandomCrop(12, pad_if_needed=True)(x).shape == (2, 12, 12)
    with pytest.raises(ValueError, match="larger than the"):
        T.RandomCrop(12)(x)
    with pytest.raises(ValueError, match="padding_mode"):
        T.RandomCrop(4, padding_mode="wrap")


def test_random_horizontal_flip():
    x = _batch(400, 1, 3, 4)
    out = T.RandomHorizontalFlip(p=0.3)(x)
    same = np.all(out == x, axis=(1, 2, 3))
    flipped = np.all(out == x[..., ::-1], axis=(1, 2, 3))
    assert np.all(same | flipped)
    assert 0.2 < flipped.mean() < 0.4
    assert np.array_equal(T.RandomHorizontalFlip(p=1)(x[0]), x[0][..., ::-1])
    assert np.array_equal(T.RandomHorizontalFlip(p=0)(x), x)
    assert np.array_equal(T.RandomVerticalFlip(p=1)(x), x[..., ::-1, :])


def test_random_erasing():
    x = _batch(300, 3, 16, 16) + 1  # values in [1, 2): erased pixels (0) stand out
    out = T.RandomErasing(p=0.6, scale=(0.05, 0.2), ratio=(0.5, 2.0), value=0)(x)
    erased = out == 0
    assert np.array_equal(out[~erased], x[~erased])
    frac_images = erased.any(axis=(1, 2, 3)).mean()
    assert 0.45 < frac_images < 0.75
    for i in np.flatnonzero(erased.any(axis=(1, 2, 3))):
        m = erased[i]
        assert np.array_equal(m[0], m[1]) and np.array_equal(m[0], m[2])  # same box in every channel
        rows, cols = np.flatnonzero(m[0].any(1)), np.flatnonzero(m[0].any(0))
        box = m[0][rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
        assert box.all()  # a filled rectangle
        assert 0.05 * 256 - 8 <= box.size <= 0.2 * 256 + 8
    assert np.array_equal(T.RandomErasing(p=0)(x), x)
    per_channel = T.RandomErasing(p=1, value=(7, 8, 9))(x[0])
    assert set(np.unique(per_channel[1][per_channel[1] >= 7])) <= {8}
    noisy = T.RandomErasing(p=1, value="random")(x)
    assert (noisy != x).any()


def test_gaussian_noise():
    x = np.full((64, 1, 32, 32), 0.5, np.float32)
    out = T.GaussianNoise(sigma=0.1)(nerve.from_numpy(x)).numpy()
    d = out - x
    assert abs(d.mean()) < 0.005 and abs(d.std() - 0.1) < 0.005
    assert out.min() >= 0 and out.max() <= 1
    wide = T.GaussianNoise(mean=0.2, sigma=1.0, clip=False)(x)
    assert wide.min() < 0 and abs((wide - x).mean() - 0.2) < 0.03
    with pytest.raises(TypeError, match="float image"):
        T.GaussianNoise()(np.zeros((1, 2, 2), np.uint8))


def test_to_tensor():
    img = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    t = T.ToTensor()(img)
    assert tuple(t.shape) == (3, 4, 5) and t.dtype == nerve.float32
    assert np.allclose(t.numpy(), img.transpose(2, 0, 1) / 255)
    assert tuple(T.ToTensor()(img[..., 0]).shape) == (1, 4, 5)
    assert tuple(T.ToTensor(batch=True)(np.zeros((6, 4, 5), np.uint8)).shape) == (6, 1, 4, 5)


def test_compose_and_generator_reproducibility():
    aug = T.Compose([T.RandomCrop(10, padding=2), T.RandomHorizontalFlip(), T.RandomErasing()])
    assert aug.batched and not T.Compose([T.Lambda(lambda v: v)]).batched
    x = _batch(16, 1, 10, 10)
    nerve.manual_seed(4)
    a = aug(x)
    nerve.manual_seed(4)
    assert np.array_equal(a, aug(x))
    g1, g2 = nerve.Generator().manual_seed(9), nerve.Generator().manual_seed(9)
    assert np.array_equal(T.RandomCrop(8, generator=g1)(x), T.RandomCrop(8, generator=g2)(x))


def test_non_batched_transform_runs_per_image(tmp_path):
    calls = []

    def fn(img):
        calls.append(tuple(img.shape))
        return img * 2

    ds = FashionMNIST(fake_fashion(str(tmp_path)), verify=False, transform=T.Lambda(fn))
    (x, _), *_ = list(DataLoader(ds, batch_size=8))
    assert calls[:8] == [(1, 28, 28)] * 8
    assert np.allclose(x.numpy(), ds.data.numpy()[:8] * 2)
