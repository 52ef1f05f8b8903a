"""Domain operations. Each takes its dependencies (session, store, keyring) explicitly."""
