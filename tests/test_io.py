"""Atomic writes: a failure leaves the previous output intact and no temporary file behind; names are confined."""

import os

import pandas as pd
import pytest

from dldd.core import io
from dldd.errors import InputError


def test_failed_write_keeps_previous(tmp_path):
    target = tmp_path / "t.csv"
    io.write_csv(target, pd.DataFrame({"a": [1]}))
    before = target.read_text()
    with pytest.raises(RuntimeError):
        with io.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == before
    assert os.listdir(tmp_path) == ["t.csv"]


def test_confined(tmp_path):
    assert io.confined(tmp_path, "maps", "x.tif") == (tmp_path / "maps" / "x.tif").resolve()
    for bad in (("..", "x.csv"), ("/etc/passwd",), ("maps", "../../x")):
        with pytest.raises(InputError, match="outside the output folder"):
            io.confined(tmp_path, *bad)
