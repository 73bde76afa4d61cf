"""The `nerve` command: info, train (end to end on scikit-learn's digits, and on a slice of the real
Fashion-MNIST when installed), bench (listing, the packaged subset)."""
import json
import os
import subprocess
import sys

import pytest

from nerve.cli import main

REAL = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"


def test_info(capsys):
    assert main(["info"]) == 0
    assert "nerve" in capsys.readouterr().out.lower()


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "train" in capsys.readouterr().out


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_train_digits_end_to_end(tmp_path, capsys, model):
    out = tmp_path / "run"
    rc = main(["train", "digits", "--model", model, "--epochs", "3", "--batch-size", "64", "--lr", "3e-3",
               "--out", str(out), "--quiet"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "confusion matrix" in text and "test accuracy" in text
    assert sorted(os.listdir(out)) == ["checkpoint.safetensors", "curves.png", "history.csv", "metrics.json",
                                       "model.safetensors"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs"] == 3 and metrics["test_accuracy"] > 0.8
    # the checkpoint resumes: two more epochs continue the same run
    rc = main(["train", "digits", "--model", model, "--epochs", "5", "--batch-size", "64", "--lr", "3e-3",
               "--out", str(out), "--quiet", "--resume", str(out / "checkpoint.safetensors")])
    assert rc == 0 and json.loads((out / "metrics.json").read_text())["epochs"] == 5


def test_train_expect_fails_loudly(tmp_path, capsys):
    rc = main(["train", "digits", "--model", "mlp", "--epochs", "1", "--out", str(tmp_path), "--quiet",
               "--expect", "1.01"])
    assert rc == 1 and "below --expect" in capsys.readouterr().err


@pytest.mark.skipif(not os.path.exists(REAL), reason="the Debian package dataset-fashion-mnist is not installed")
def test_train_fashion_mnist_slice(tmp_path, capsys):
    rc = main(["train", "fashion-mnist", "--model", "mlp", "--epochs", "1", "--limit", "2000", "--out",
               str(tmp_path), "--quiet"])
    assert rc == 0
    assert json.loads((tmp_path / "metrics.json").read_text())["test_accuracy"] > 0.6
    assert "Ankle" in capsys.readouterr().out  # class names label the confusion matrix


def test_bench_list_and_packaged_subset(capsys):
    assert main(["bench", "--list"]) == 0
    listed = capsys.readouterr().out
    assert "train_step" in listed and "conv" in listed
    assert main(["bench", "--packaged", "--quick", "--threads", "1"]) == 0
    table = capsys.readouterr().out
    assert "| threads | case | nerve ms |" in table and "train step MLP" in table


def test_bench_unknown_name(capsys):
    assert main(["bench", "nosuch"]) == 2
    assert "unknown benchmark" in capsys.readouterr().err


def test_console_entry_point():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    r = subprocess.run([sys.executable, "-m", "nerve.cli", "train", "--help"], capture_output=True, text=True, env=env)
    assert r.returncode == 0 and "--model" in r.stdout and "fashion-mnist" in r.stdout
