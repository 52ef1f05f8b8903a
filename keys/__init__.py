"""OpenPGP for BackUp: the gpg adapter, and the submission key's lifecycle."""
