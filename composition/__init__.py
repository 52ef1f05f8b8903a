"""The composition root: builds a process's parts (database, keyring, store, Redis,
receipt key) and hands them to the domain, the apps, the CLI and the worker."""
