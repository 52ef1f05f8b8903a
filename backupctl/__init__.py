"""`backupctl`: the operator's command line (development run, worker, accounts, keys,
and the air-gapped workstation's tools). The entry point is `backupctl.cli:main`."""
