"""What product and finance read beside the spend: anomalies, budgets with their month-end projection, and
what-if scenarios (`whatif`)."""
