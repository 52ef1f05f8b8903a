"""Federation between BackUp instances (docs/federation.md): never imports Flask.

- `identity`: this instance's Ed25519 federation signing key and x25519 client key;
- `envelope`: signed envelopes, and every reason one is refused (pure logic);
- `receive`: an envelope that arrived, checked against the peers, handed to its kind;
- `kinds`: the body handlers (`release` now; the registry stays open);
- `client`: POST an envelope to a peer's onion service through tor's SOCKS;
- `app`: the WSGI endpoint `backupctl serve federation` runs behind its own onion service.
"""

from federation.errors import DeliveryError, EnvelopeRefusedError, FederationError

__all__ = ["DeliveryError", "EnvelopeRefusedError", "FederationError"]
