"""The development supervisor behind `backupctl run`: a private Redis, a development
submission key, onion services and both apps."""
