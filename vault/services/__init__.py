"""Domain operations. Each takes its dependencies (session, store, keyring) explicitly.

One module per thing they are about (sources as reviewers see them in `inbox`,
`submissions`, `replies`, `cases`, `care`, `referrals`, `accounts`, `audit`...),
whoever calls them: the reviewer pages, the API, the source app, jobs and the CLI.

Services add to the caller's session; the caller owns the transaction: a request commits
when it succeeds and rolls back otherwise (`web_shared.context.install_transactions`), a
job or a command uses `Runtime.session()`. A service commits in the middle only for a
reason its comment names: a stored file that must be shredded unless its row commits, a
job queued after the row it acts on is committed, a refusal recorded though the request
fails. Services not yet moved to this rule still commit at their end.
"""
