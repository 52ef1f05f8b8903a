"""The air-gapped side: decrypt downloads (later: import bundles, verify custody, code
incidents, build judicial files and de-identified statistics)."""

from workstation.decrypt import decrypt_downloads
from workstation.errors import DecryptFailedError, NotOurFileError, WorkstationError

__all__ = ["DecryptFailedError", "NotOurFileError", "WorkstationError", "decrypt_downloads"]
