"""The commands run on the server: serving, accounts, the database, keys, onion
services, custody receipts, retention, care escalation."""
