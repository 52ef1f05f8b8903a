"""The reviewer app fixtures (real Runtime, CSRF on), shared with the inbox tests."""

from tests.integration.journalist_app.conftest import (  # noqa: F401  (pytest fixtures)
    admin,
    admin_client,
    analyst,
    analyst_client,
    app,
    client,
    partner,
    partner_client,
)
