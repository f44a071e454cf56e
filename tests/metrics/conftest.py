from tests.checks.conftest import mailbox, world  # noqa: F401 - fixtures shared with checks
