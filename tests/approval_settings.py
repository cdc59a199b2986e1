"""Settings of the change-request tests' child processes: the fleet tests' (the app database
on PostgreSQL, a schema of the test database shared by every process), with the approval
policy (and notification settings) the test hands over in SCHEMA_MANAGER_TEST_APPROVALS and
SCHEMA_MANAGER_TEST_NOTIFICATIONS (JSON)."""

import json
import os

from tests.fleet_settings import *  # noqa: F403
from tests.fleet_settings import SCHEMA_MANAGER

SCHEMA_MANAGER = {
    **SCHEMA_MANAGER,
    "APPROVALS": json.loads(os.environ.get("SCHEMA_MANAGER_TEST_APPROVALS", "{}")),
    "CHANGE_NOTIFICATIONS": json.loads(os.environ.get("SCHEMA_MANAGER_TEST_NOTIFICATIONS", "{}")),
}
