"""For finance: closing a month (`close`) and the FOCUS 1.2 export of the ledger (`focus_export`)."""
