"""Paged cost API exports (OpenAI Costs API, Anthropic's cost reports) in, one record per cost line out.

A file holds one page, a JSON array of pages, or one page per line. Each page has a `data` list, in one of two shapes:

- time buckets, each with its `results` (OpenAI's Costs API, Anthropic's Admin API `cost_report`): every result
  becomes one record with its bucket's start and end copied in (`bucket_start_time`, `bucket_end_time`);
- rows (Anthropic's Usage and Cost Analytics API, `GET /v1/organizations/analytics/cost`): each row carries its own
  `starting_at`, `ending_at`, `group` of dimensions and `cost` metrics, and is one record as it is.

Records are numbered across the file in order. A file that is not such pages, or a page mixing the two shapes, is a
FileError.
"""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.records.read import FileError, load_json_document, read_records, records_from_objects
from pipelines.settings import clipped, unique_keys


def pages(data: bytes, name: str) -> list[dict]:
    """The pages of a paged API export: one page per file, a JSON array of pages, or one page per line."""
    lower = name.lower().removesuffix(".gz")
    if lower.endswith(".jsonl"):
        raw = read_records(data, name)
        bad = [r for r in raw.to_pylist() if r["problem"]]
        if bad:
            raise FileError(f"line {bad[0]['row_number']}: {bad[0]['problem'].lstrip('|')}")
        found = []
        for row in raw.to_pylist():
            try:
                found.append(json.loads(row["record"], parse_float=str, object_pairs_hook=unique_keys))
            except RecursionError:
                raise FileError(f"line {row['row_number']}: JSON nested too deeply to read") from None
            except ValueError as exc:  # a key given twice deeper in the page
                raise FileError(f"line {row['row_number']}: {clipped(str(exc), 300)}") from None
        what = "line"
    else:
        document = load_json_document(data, name)
        found = document if isinstance(document, list) else [document]
        what = "page"
    for index, page in enumerate(found, start=1):
        if not isinstance(page, dict) or not isinstance(page.get("data"), list):
            raise FileError(f"{what} {index} is not a cost report page (an object with a 'data' list of time buckets or rows)")
        objects = [item for item in page["data"] if isinstance(item, dict)]
        if any("results" in item for item in objects) and any(_is_row(item) for item in objects):
            raise FileError(f"{what} {index} mixes time buckets ('results') with cost rows ('group', 'cost')")
        for number, bucket in enumerate(page["data"], start=1):
            if isinstance(bucket, dict) and not isinstance(bucket.get("results", []), (list, type(None))):
                raise FileError(f"{what} {index}, time bucket {number}: 'results' is not a list")
    return found


def _is_row(item: dict) -> bool:
    return "group" in item or "cost" in item


def is_row_page(page: dict) -> bool:
    """Whether a page's `data` holds rows (each with its own `group` and `cost`) rather than time buckets with `results`."""
    return any(isinstance(item, dict) and _is_row(item) for item in page["data"])


def _results(page: dict, start_key: str, end_key: str) -> list:
    """The results of a page's time buckets, each with its bucket's start and end copied in."""
    results = []
    for bucket in page["data"]:
        if not isinstance(bucket, dict):
            results.append(bucket)
            continue
        for result in bucket.get("results") or []:
            if isinstance(result, dict):
                result = {**result, "bucket_start_time": bucket.get(start_key), "bucket_end_time": bucket.get(end_key)}
            results.append(result)
    return results


def bucket_results(data: bytes, name: str, start_key: str, end_key: str) -> pa.Table:
    """One record per result of every time bucket, with the bucket's start and end copied in."""
    return records_from_objects([result for page in pages(data, name) for result in _results(page, start_key, end_key)])


def report_records(data: bytes, name: str, start_key: str, end_key: str) -> tuple[pa.Table, pa.Table]:
    """The records of a file of cost report pages of either shape, numbered across the file: the results of the
    time-bucketed pages, and the rows of the row pages."""
    objects: list = []
    row_flags: list[bool] = []
    for page in pages(data, name):
        rows = is_row_page(page)
        found = page["data"] if rows else _results(page, start_key, end_key)
        objects += found
        row_flags += [rows] * len(found)
    records = records_from_objects(objects)
    is_row = pa.array(row_flags, pa.bool_())
    return records.filter(pc.invert(is_row)), records.filter(is_row)
