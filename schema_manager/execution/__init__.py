"""How a plan of migrations runs on one target: the session that lives for the plan, the
executor's transaction protocol, the transport of statements, and step-by-step runs.

Module map: ``runner`` runs a plan; ``session`` owns what lives for it (lock, held ledger
rows, history records settled before each commit); ``executor`` commits or rolls back one
migration with its ledger row; ``transport`` sends statements to the server; ``stepwise``
runs a script outside a transaction, with ``compensation``, ``footprints``, ``restores`` and
``journal`` for undoing it and for recovering after a crash; ``crash`` is the tests' kill
switch.
"""
