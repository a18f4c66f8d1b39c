"""Exchange-rate files under landing/fx: every row judged and kept, every file read only if it is a landed file."""

from __future__ import annotations

import os

from pipelines.pricing.fx import load_rates


def _rejected(rejected) -> list[tuple]:
    return [(r["source_file"], r["row_number"], r["field"], r["reason"]) for r in rejected.to_pylist()]


def test_a_rate_beyond_its_column_or_beyond_belief_is_rejected_with_its_row(tmp_path):
    """A rate with 13 decimals, at 10^26 or at 10^-10 stopped every run (Arrow could not fit it in DECIMAL(38, 12),
    or the marts' product overflowed); each is now a row of audit.rejected_fx_rows and the good rows load."""
    (tmp_path / "fx").mkdir()
    (tmp_path / "fx" / "rates.csv").write_text(
        "date,currency,rate\n2026-12-03,GBP,0.7912345678901\n2026-12-03,EUR,100000000000000000000000000\n"
        "2026-12-03,CHF,0.0000000001\n2026-12-03,JPY,150.25\n2026-12-03,IDR,16000.123456789012\n"
    )
    rates, rejected = load_rates(tmp_path)
    assert [(r["currency"], str(r["usd_rate"])) for r in rates.to_pylist()] == [("JPY", "150.250000000000"), ("IDR", "16000.123456789012")]
    assert _rejected(rejected) == [
        ("fx/rates.csv", 2, "rate", "more than 12 decimal places: '0.7912345678901'"),
        ("fx/rates.csv", 3, "rate", "not a plausible rate (units per 1 USD, 0.000001 to 1,000,000,000): '100000000000000000000000000'"),
        ("fx/rates.csv", 4, "rate", "not a plausible rate (units per 1 USD, 0.000001 to 1,000,000,000): '0.0000000001'"),
    ]


def test_a_fifo_or_a_link_out_of_landing_is_not_read(tmp_path):
    """A FIFO hung every run (polars waited for a writer, the run held its lock); a link out of landing showed the
    other file's first column in audit.rejected_fx_rows, which `tokenledger sql` reads. Neither is opened now."""
    landing = tmp_path / "landing"
    (landing / "fx").mkdir(parents=True)
    (landing / "fx" / "good.csv").write_text("date,currency,rate\n2026-12-03,EUR,0.92\n")
    os.mkfifo(landing / "fx" / "pipe.csv")
    (tmp_path / "secret.txt").write_text("TOPSECRET\n")
    (landing / "fx" / "link.csv").symlink_to(tmp_path / "secret.txt")
    (landing / "fx" / "dangling.csv").symlink_to(landing / "fx" / "gone.csv")
    rates, rejected = load_rates(landing)
    assert [r["currency"] for r in rates.to_pylist()] == ["EUR"]
    reasons = _rejected(rejected)
    assert ("fx/pipe.csv", 0, "", "not a regular file (a FIFO, socket or device); not read") in reasons
    assert ("fx/link.csv", 0, "", "symlink points outside the landing folder; not followed") in reasons
    assert [r for r in reasons if r[0] == "fx/dangling.csv"][0][3].startswith("unreadable: ")
    assert "TOPSECRET" not in str(reasons)


def test_two_rates_for_one_currency_and_day_keep_the_first_and_name_it(tmp_path):
    """Both were loaded and which applied was arbitrary; the first in file and row order is kept, a different one is
    rejected naming it, the same one again is no conflict."""
    (tmp_path / "fx").mkdir()
    (tmp_path / "fx" / "a.csv").write_text("date,currency,rate\n2026-12-03,EUR,0.92\n")
    (tmp_path / "fx" / "b.csv").write_text("date,currency,rate\n2026-12-03,EUR,0.95\n2026-12-03,EUR,0.92\n2026-12-04,EUR,0.95\n")
    rates, rejected = load_rates(tmp_path)
    assert [(str(r["rate_date"]), str(r["usd_rate"]), r["source_file"]) for r in rates.to_pylist()] == [
        ("2026-12-03", "0.920000000000", "fx/a.csv"), ("2026-12-04", "0.950000000000", "fx/b.csv")]
    assert _rejected(rejected) == [("fx/b.csv", 2, "rate", "another rate for EUR on 2026-12-03 is kept: 0.92 (fx/a.csv row 2)")]


def test_a_row_with_more_or_fewer_fields_is_its_own_rejection_and_line_numbers_stay_true(tmp_path):
    """A trailing comma on one row (four fields under a three-column header) made the table reader raise, and the
    whole file was one row-0 rejection: every good rate in it was lost. Blank lines shifted the row numbers given."""
    (tmp_path / "fx").mkdir()
    (tmp_path / "fx" / "rates.csv").write_text(
        "\ufeffdate,currency,rate\n2026-12-01,EUR,0.92\n\n2026-12-02,EUR,0.93,\n2026-12-02,GBP\n"
        '2026-12-03,"EU\nR",0.94\n2026-12-03,JPY,150.25\n'
    )
    rates, rejected = load_rates(tmp_path)
    assert [(str(r["rate_date"]), r["currency"], r["source_row"]) for r in rates.to_pylist()] == [
        ("2026-12-01", "EUR", 2), ("2026-12-03", "JPY", 8)]
    assert _rejected(rejected) == [
        ("fx/rates.csv", 4, "", "4 fields where the header has 3"),
        ("fx/rates.csv", 5, "", "2 fields where the header has 3"),
        ("fx/rates.csv", 6, "currency", "not an ISO 4217 code: 'EU\\nR'"),
    ]
