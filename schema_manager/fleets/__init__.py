"""Fleets: one plan rolled out over many tenant databases or schemas, in waves, by tasks.

``specs`` (what a fleet's targets are), ``adapters`` (targets from a tenant model or a list of
databases), ``connections`` (a target's connection, opened and closed per run), ``models``
(rollouts, waves, target runs), ``planner`` (a new rollout), ``claims`` (leases on target
runs), ``runs`` (one target run), ``dispatch`` (which runs go to the task engine next),
``tasks`` (the task entry point), ``control`` (pause, resume, retry, cancel) and ``status``
(where every target of a fleet stands).
"""
