"""The Python API (swirl/, gen/api.py): docs/api.md's walk-through runs as written, and
the API refuses what the CLI refuses, with the same messages."""
from __future__ import annotations

import re
import pathlib

import pytest

import swirl

DOC = pathlib.Path(__file__).resolve().parents[1] / "docs" / "api.md"
FENCE = re.compile(r"^```(\S*)[^\n]*\n(.*?)^```", re.M | re.S)


def doc_blocks(text: str) -> list:
    """The ``python`` blocks of a Markdown text, in order (``python notrun`` left out)."""
    return [m.group(2) for m in FENCE.finditer(text)
            if m.group(1) == "python" and "notrun" not in m.group(0).split("\n", 1)[0]]


def test_doc_blocks_are_found():
    text = "a\n```python\nx = 1\n```\n```python notrun\ny\n```\n```sh\nz\n```\n"
    assert doc_blocks(text) == ["x = 1\n"]


@pytest.mark.rtl
def test_walk_through_runs(tmp_path, monkeypatch, capsys):
    """Every block of docs/api.md, in order, in one namespace; a failing assert in the
    doc (bit_exact, the evaluate score) fails this test."""
    blocks = doc_blocks(DOC.read_text())
    assert len(blocks) >= 5
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for k, code in enumerate(blocks):
        exec(compile(code, f"{DOC.name} block {k + 1}", "exec"), namespace)
    out = capsys.readouterr().out
    assert "refused: sizes.neurons = 0" in out
    assert "ulx3s-deep: 1024 hidden neurons, 401970 synapses" in out
    assert "bit exact over 3 samples" in out
    assert namespace["report"]["bit_exact"]


def test_every_export_is_documented_and_importable():
    text = DOC.read_text() + (swirl.__doc__ or "")
    for name in swirl.__all__:
        assert getattr(swirl, name) is not None
        assert name in text, f"swirl.{name} is exported but not in docs/api.md or the doc"


def test_train_refuses_data_the_config_cannot_hold(tmp_path):
    import numpy as np
    np.savez(tmp_path / "seven.npz", X=np.ones((20, 7)), y=np.arange(20) % 2)
    with pytest.raises(swirl.ConfigError, match=r"sizes.n_in = 6 but the data has 7"):
        swirl.train("mine", config="tiny", data=tmp_path / "seven.npz", epochs=1,
                    progress=False)


def test_weights_and_another_config_are_refused(tmp_path):
    net = swirl.Network(swirl.load_config("tiny"))
    swirl.save_weights(tmp_path / "w.npz", net)
    with pytest.raises(swirl.ConfigError, match="trained with another config"):
        swirl.compare(swirl.load_config(), weights=tmp_path / "w.npz", samples=1)


def test_evaluate_needs_a_task_for_weights_without_meta(tmp_path):
    swirl.save_weights(tmp_path / "w.npz", swirl.Network(swirl.load_config()))
    with pytest.raises(ValueError, match="does not say which task"):
        swirl.evaluate(tmp_path / "w.npz")


def test_check_names_the_resource_it_lacks():
    with pytest.raises(swirl.ConfigError, match=r"SPRAM blocks .* ice40 has 4"):
        swirl.check("ice40", "ulx3s-deep")
    assert swirl.check("ulx3s", "ulx3s-deep")["fits"]
