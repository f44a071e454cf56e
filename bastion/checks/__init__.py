"""The steps of a check for updates, each a module: safeguard, load, classify, reports.

The workflow that runs them in order, with its lock, heartbeat and transaction, is
``bastion.actions.checks``; these modules neither start nor finish a run.
"""
