"""The commands run on the air-gapped workstation: custody, decryption, incident coding,
statistics releases."""
