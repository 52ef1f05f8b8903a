"""Domain operations. Each takes its dependencies (session, store, keyring) explicitly.

One module per thing they are about (sources as reviewers see them in `inbox`,
`submissions`, `replies`, `cases`, `care`, `referrals`, `accounts`, `audit`...),
whoever calls them: the reviewer pages, the API, the source app, jobs and the CLI.

Services add to the caller's session and never commit: the caller owns the transaction.
A request commits when it succeeds and rolls back otherwise
(`web_shared.context.install_transactions`); a job or a command runs in one
`vault.transaction.unit_of_work` (`Runtime.session()`, `backupctl._common.database`).
What a service does outside the database follows that transaction through the hooks of
`vault.transaction`: a stored file or a key is undone unless its row commits
(`on_rollback`), a job is queued once the row it acts on is committed (`after_commit`), a
refusal is audited though the transaction fails (`audit.record_refusal`). A step that may
fail without failing the caller runs in a `savepoint`. `tests/unit/test_transactions.py`
keeps `commit()` out of this package.
"""
