import pandas as pd
import pytest

from course_lib import ledger


def test_empty_ledger_reads_as_empty_table(results_dir):
    table = ledger.read()
    assert table.empty and list(table.columns) == ledger.COLUMNS
    assert ledger.missing([("02", "a")]) == [("02", "a")]


def test_record_and_update(results_dir):
    ledger.record("01_measuring", "cnn", "baseline", params=10, macs=100, bytes=40, bytes_kind="flatbuffer",
                  accuracy=0.9, latency_ms=1.5, threads=2, runtime="litert")
    ledger.record("01_measuring", "cnn2", "baseline", accuracy=0.8)
    ledger.record("01_measuring", "cnn", "baseline", accuracy=0.95)   # same key: replaces the row
    table = ledger.read()
    assert len(table) == 2
    row = table[table["model"] == "cnn"].iloc[0]
    assert row["bytes_kind"] == "" or pd.isna(row["bytes_kind"])  # the update did not say what its bytes are
    assert row["accuracy"] == 0.95 and row["mode"] in ("fast", "full")
    other = table[table["model"] == "cnn2"].iloc[0]
    assert str(table["params"].dtype) == "Int64" and pd.isna(other["params"])
    assert ledger.missing([("01_measuring", "cnn"), ("08", "x")]) == [("08", "x")]
    assert (results_dir / "ledger.csv").exists()


def test_record_rejects_bad_values(results_dir):
    with pytest.raises(ValueError, match="fraction"):
        ledger.record("n", "m", "t", accuracy=95.0)
    with pytest.raises(ValueError, match="negative"):
        ledger.record("n", "m", "t", params=-1)
    with pytest.raises(ValueError, match="bytes_kind must be one of"):
        ledger.record("n", "m", "t", bytes=10, bytes_kind="zip")
    with pytest.raises(ValueError, match="notebook, a model"):
        ledger.record("", "m", "t")


def test_foreign_csv_is_not_overwritten(results_dir):
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / "ledger.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="Move it away"):
        ledger.read()
    with pytest.raises(ValueError):
        ledger.record("n", "m", "t")
    assert (results_dir / "ledger.csv").read_text() == "a,b\n1,2\n"
