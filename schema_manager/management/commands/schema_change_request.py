"""Change requests from the command line, for people and CI: create, submit, decide, cancel,
review, list and show (``--format json`` for machines)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import CommandError

from ...change_requests import eligibility, service
from ...change_requests.models import ChangeRequest
from ...change_requests.policy import policy_for
from ._base import SchemaCommand, find_user

DECISIONS = {"approve": "approve", "reject": "reject", "request-changes": "request_changes"}


class Command(SchemaCommand):
    help = "Create, submit, approve, reject, list and show schema change requests."

    def add_arguments(self, parser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        create = actions.add_parser("create", help="Open a request for migrations, in order.")
        create.add_argument("ids", nargs="+", metavar="ID")
        self.add_environment_argument(create)
        create.add_argument(
            "--fleet",
            help="A request for every target of this fleet (APPROVALS['<fleet>:*']), rolled "
            "out with apply_schema_migration --fleet … --change-request N.",
        )
        create.add_argument("--title", required=True)
        create.add_argument("--reason", default="")
        create.add_argument("--operation", choices=["apply", "rollback"], default="apply")
        create.add_argument("--submit", action="store_true", help="Submit it for review at once.")
        for name in ("submit", "cancel", "show"):
            sub = actions.add_parser(name, help=f"{name.capitalize()} request N.")
            sub.add_argument("number", metavar="N")
        for name in DECISIONS:
            sub = actions.add_parser(name, help=f"{name.capitalize()} request N.")
            sub.add_argument("number", metavar="N")
            sub.add_argument("--comment", default="")
        review = actions.add_parser("review", help="Review break-glass run N afterwards.")
        review.add_argument("number", metavar="N")
        review.add_argument("--comment", required=True)
        listing = actions.add_parser("list", help="List requests (newest first).")
        listing.add_argument("--state", choices=ChangeRequest.State.values)
        listing.add_argument("--environment", "-e")
        listing.add_argument(
            "--needs-review",
            action="store_true",
            help="Only the submitted requests --user may decide on.",
        )
        for sub in actions.choices.values():
            sub.add_argument("--user", metavar="USERNAME", help="Who acts (a Django user).")
            sub.add_argument("--format", choices=["text", "json"], default="text")

    def handle(self, *args, action: str, **options) -> None:
        user = find_user(options["user"]) if options.get("user") else None
        if user is None and action not in ("list", "show"):
            raise CommandError(f"{action} needs --user: the Django user who does it.")
        if action == "list":
            requests = self._list(user, options)
            return self._write([_payload(r) for r in requests], options, _lines(requests))
        if action == "create":
            self.named_migrations(options["ids"])  # new folders imported (a CI's request)
            if options["fleet"] and options["environment"]:
                raise CommandError("Give --environment or --fleet, not both.")
            request = service.create(
                f"{options['fleet']}:*" if options["fleet"] else options["environment"],
                options["ids"],
                author=user,
                title=options["title"],
                reason=options["reason"],
                operation=options["operation"],
                submit_now=options["submit"],
            )
        elif action == "submit":
            request = service.submit(options["number"], user)
        elif action == "cancel":
            request = service.cancel(options["number"], user)
        elif action == "review":
            request = service.review(options["number"], user, options["comment"])
        elif action in DECISIONS:
            service.decide(options["number"], user, DECISIONS[action], options["comment"])
            request = service.get(options["number"])
        else:
            request = service.get(options["number"])
        self._write(_payload(request, full=True), options, _lines([request]))

    def _list(self, user: Any, options: dict[str, Any]) -> list[ChangeRequest]:
        found = ChangeRequest.objects.select_related("author").prefetch_related("pins")
        if options["state"]:
            found = found.filter(state=options["state"])
        if options["environment"]:
            found = found.filter(environment=options["environment"])
        requests = list(found)
        if options["needs_review"]:
            if user is None:
                raise CommandError("--needs-review needs --user.")
            requests = [r for r in requests if needs_review(r, user)]
        return requests

    def _write(self, data: Any, options: dict[str, Any], lines: list[str]) -> None:
        if options["format"] == "json":
            self.stdout.write(json.dumps(data, indent=2, default=str))
        else:
            self.stdout.write("\n".join(lines) or "(no change requests)")


def needs_review(request: ChangeRequest, user: Any) -> bool:
    """A submitted request ``user`` may decide on and has not approved yet."""
    if request.state != ChangeRequest.State.SUBMITTED:
        return False
    if eligibility.decision_problem(request, user, policy_for(request.environment)):
        return False
    return not request.approvals.filter(user=user, voided_at__isnull=True).exists()


def _payload(request: ChangeRequest, full: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": request.pk,
        "title": request.title,
        "environment": request.environment,
        "operation": request.operation,
        "state": request.state,
        "author": request.author.get_username(),
        "break_glass": request.break_glass,
        "migrations": [
            {
                "id": p.migration_id,
                "sql_checksum": p.sql_checksum,
                "rollback_checksum": p.rollback_checksum,
            }
            for p in request.pins.all()
        ],
        "created_at": request.created_at,
        "approved_at": request.approved_at,
        "expires_at": request.expires_at,
    }
    if full:
        data["reason"] = request.reason
        data["void_reason"] = request.void_reason
        data["decisions"] = [
            {
                "user": a.user.get_username(),
                "decision": a.decision,
                "comment": a.comment,
                "decided_at": a.decided_at,
                "voided": a.voided_at is not None,
            }
            for a in request.approvals.select_related("user")
        ]
        data["outcome"] = request.outcome
        data["review_due_at"] = request.review_due_at
        data["reviewed_at"] = request.reviewed_at
    return data


def _lines(requests: list[ChangeRequest]) -> list[str]:
    return [
        f"#{r.pk} [{r.state}] {r.environment} {r.operation} "
        f"{', '.join(r.pinned_ids())}: {r.title} (by {r.author.get_username()})"
        + (" BREAK-GLASS" if r.break_glass else "")
        for r in requests
    ]
