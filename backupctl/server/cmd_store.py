"""`backupctl sweep`: finish the deletions whose job was lost, remove what crashed
requests left in the encrypted store, and forget key retirements every server's homes
have had time to apply (vault.services.key_retirement)."""

from __future__ import annotations

import click
from redis import Redis

from backupctl._common import CliState, private_redis_socket
from composition.runtime import build_runtime
from vault import jobs

# A partial file is touched by every chunk of a live upload; anything this much older
# than its last write was abandoned. Lower would risk cutting a slow upload over Tor.
MIN_AGE_SECONDS = 300


@click.command()
@click.option(
    "--older-than",
    type=click.IntRange(min=MIN_AGE_SECONDS),
    default=3600,
    show_default=True,
    help="Only files untouched for this many seconds.",
)
@click.pass_obj
def sweep(state: CliState, older_than: int) -> None:
    """Finish requested deletions; shred partial files and files no row refers to;
    forget old key retirements."""
    config = state.config()
    # Sweeping reads the database and the store only; the client is never connected: the
    # sweep works while Redis is down, and recovers what a Redis restart lost.
    redis = Redis.from_url(config.redis_url or f"unix://{private_redis_socket(config)}")
    runtime = build_runtime(config, redis=redis, side="worker")
    try:
        finished = jobs.finish_requested_deletions(runtime)
        removed = jobs.sweep_store(runtime, older_than_seconds=older_than)
        forgotten = jobs.prune_retired_keys(runtime)
    finally:
        runtime.engine.dispose()
    click.echo(f"Carried out {finished} requested deletion(s).")
    click.echo(f"Shredded {removed} stale file(s).")
    click.echo(f"Forgot {forgotten} key retirement(s) older than the time kept.")
