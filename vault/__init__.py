"""BackUp's domain: config, models, codenames, the encrypted store, services, jobs.

Never imports Flask: both apps, the workstation and the CLI build on it.
"""
