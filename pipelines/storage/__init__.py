"""Where state lives: the home folder, landing and lake stores, the lake's catalog, the warehouse file and
the run lock. It imports nothing of tokenledger but `pipelines.settings`."""
