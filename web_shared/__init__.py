"""Flask glue both apps share: encrypted server-side sessions, security headers,
tor2web refusal. Domain logic stays in `vault`; this package only adapts it to Flask."""
