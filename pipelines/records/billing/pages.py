"""Paged cost API exports (OpenAI Costs API, Anthropic cost report) in, one record per result out.

A file holds one page, a JSON array of pages, or one page per line. Each page has a `data` list of time
buckets, each with its `results`; every result becomes one record with its bucket's start and end copied in
(`bucket_start_time`, `bucket_end_time`), numbered across the file. A file that is not such pages is a FileError.
"""

from __future__ import annotations

import json

import pyarrow as pa

from pipelines.records.read import FileError, load_json_document, read_records, records_from_objects


def pages(data: bytes, name: str) -> list[dict]:
    """The pages of a paged API export: one page per file, a JSON array of pages, or one page per line."""
    lower = name.lower().removesuffix(".gz")
    if lower.endswith(".jsonl"):
        raw = read_records(data, name)
        bad = [r for r in raw.to_pylist() if r["problem"]]
        if bad:
            raise FileError(f"line {bad[0]['row_number']}: {bad[0]['problem'].lstrip('|')}")
        found = [json.loads(r["record"], parse_float=str) for r in raw.to_pylist()]
        what = "line"
    else:
        document = load_json_document(data, name)
        found = document if isinstance(document, list) else [document]
        what = "page"
    for index, page in enumerate(found, start=1):
        if not isinstance(page, dict) or not isinstance(page.get("data"), list):
            raise FileError(f"{what} {index} is not a cost report page (an object with a 'data' list of time buckets)")
        for number, bucket in enumerate(page["data"], start=1):
            if isinstance(bucket, dict) and not isinstance(bucket.get("results", []), (list, type(None))):
                raise FileError(f"{what} {index}, time bucket {number}: 'results' is not a list")
    return found


def bucket_results(data: bytes, name: str, start_key: str, end_key: str) -> pa.Table:
    """One record per result of every time bucket, with the bucket's start and end copied in."""
    results = []
    for page in pages(data, name):
        for bucket in page["data"]:
            if not isinstance(bucket, dict):
                results.append(bucket)
                continue
            for result in bucket.get("results") or []:
                if isinstance(result, dict):
                    result = {**result, "bucket_start_time": bucket.get(start_key), "bucket_end_time": bucket.get(end_key)}
                results.append(result)
    return records_from_objects(results)
