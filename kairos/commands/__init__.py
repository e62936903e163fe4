"""The imperative shell: one module per CLI job, wiring client, state, ledger, notify and core."""
