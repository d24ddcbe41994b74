"""bench/train.py's time split reads the events a run writes."""
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bench_train():
    spec = importlib.util.spec_from_file_location("bench_train", ROOT / "bench" / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_time_split_charges_each_event_from_the_one_before(bench_train):
    events = [{"kind": "started", "time": 100.0},
              {"kind": "step", "time": 110.0, "step": 10},
              {"kind": "eval", "time": 113.0, "step": 10},    # 3 s of evaluation
              {"kind": "sample", "time": 115.0, "step": 10},  # 2 s of sampling
              {"kind": "step", "time": 125.0, "step": 20},
              {"kind": "checkpoint", "time": 126.5, "step": 20},  # 1.5 s saving
              {"kind": "finished", "time": 127.0, "step": 20}]
    split = bench_train.time_split(events)
    assert split == pytest.approx({"total": 27.0, "train": 20.5, "eval": 3.0, "sample": 2.0, "save": 1.5})
