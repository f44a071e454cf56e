"""Leases on running operations: how a dead worker's operation is found and resumed in seconds.

Claiming an operation (``claim_operation``) gives the worker a lease of
``BASTION_OPERATION_LEASE_SECONDS`` (15 s by default). While the app is being called, a
``LeaseKeeper`` thread renews it every third of that (5 s), so two heartbeats can be missed
before anyone else may take the operation. A worker killed mid-call stops renewing; once its
lease has run out, the operation is claimable again and the next attempt is made with
``resumed=True`` (the connector reads the app's state first), by whichever consumer's
lease watch (``bastion/jobs.py``, looking every heartbeat interval) or minute tick sees it
first: within lease + heartbeat interval of the crash, 20 s by default.

Every renewal and the final write of the outcome are fenced by the attempt number the claim
made: a worker that lost its lease (paused too long, not dead) cannot extend it again or record
over the worker that took the operation over.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.orm import Session

from bastion.logs import get_logger
from bastion.runtime import Runtime
from bastion.storage.models import Operation, utcnow
from bastion.storage.models.enums import OperationState

log = get_logger(__name__)
# The lease is renewed this many times per lease length.
RENEWALS_PER_LEASE = 3


def lease_length(runtime: Runtime) -> timedelta:
    return timedelta(seconds=runtime.settings.operation_lease_seconds)


def heartbeat_interval(runtime: Runtime) -> float:
    """Seconds between two renewals of a lease (and between two looks for expired ones)."""
    return runtime.settings.operation_lease_seconds / RENEWALS_PER_LEASE


def lease_expired(now: datetime) -> Any:
    """The running operations whose worker stopped renewing its lease."""
    return and_(Operation.state == OperationState.RUNNING, Operation.lease_expires_at < now)


def orphaned_operation_ids(session: Session, *, limit: int = 100) -> list[int]:
    """Running operations whose lease ran out: their worker died, so they may be resumed."""
    return list(
        session.scalars(
            select(Operation.id).where(lease_expired(utcnow())).order_by(Operation.id).limit(limit)
        )
    )


def hold_lease(session: Session, *, operation_id: int, attempt: int, lease: timedelta) -> bool:
    """Extend the lease of the claim that made ``attempt``; False if that claim is lost."""
    renewed = session.execute(
        update(Operation)
        .where(
            Operation.id == operation_id,
            Operation.state == OperationState.RUNNING,
            Operation.attempts == attempt,
        )
        .values(lease_expires_at=utcnow() + lease)
        .execution_options(synchronize_session=False)
    )
    return renewed.rowcount == 1  # type: ignore[attr-defined, no-any-return]


class LeaseKeeper:
    """Renews one operation's lease from its own thread and session while the app is called."""

    def __init__(self, runtime: Runtime, *, operation_id: int, attempt: int) -> None:
        self._runtime, self._operation_id, self._attempt = runtime, operation_id, attempt
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, name=f"lease-{operation_id}", daemon=True
        )

    def _beat(self) -> None:
        lease, interval = lease_length(self._runtime), heartbeat_interval(self._runtime)
        while not self._stop.wait(interval):
            try:
                with self._runtime.sessions.begin() as session:
                    held = hold_lease(
                        session,
                        operation_id=self._operation_id,
                        attempt=self._attempt,
                        lease=lease,
                    )
            except Exception as exc:
                log.warning(
                    "lease renewal failed",
                    operation_id=self._operation_id,
                    error=type(exc).__name__,
                )
                continue
            if not held:
                log.warning("operation lease lost", operation_id=self._operation_id)
                return

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
