"""`python -m backupctl`: how `backupctl run` starts its worker, whatever the PATH."""

from backupctl.cli import main

main(prog_name="backupctl")
