"""Change requests: four-eyes approval of exactly the scripts that will run, maintenance
windows, break-glass runs, notifications and evidence.

``models`` holds the tables; ``policy`` reads ``SCHEMA_MANAGER["APPROVALS"]``; ``gate`` is what
the service layer asks before an apply or rollback in a protected environment; ``service`` is
the workflow (create, submit, decide, cancel, review); ``rollouts`` runs a fleet's rollout
under a request; ``windows``, ``outbox`` and ``evidence`` do one job each.
"""
