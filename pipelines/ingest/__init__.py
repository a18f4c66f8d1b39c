"""Landing to lake: every landed file read once per content hash, its rows judged by its format, written as
Parquet, its bad rows kept with the reason. One loop for every source (`landed`); gateway logs (`gateway`)
and the other record sources (`records`) plug into it; user ids are pseudonymized first (`privacy`)."""
