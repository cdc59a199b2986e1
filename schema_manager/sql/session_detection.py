"""Which rules a statement breaks by reaching into the applier's own session: controlling
its transaction, changing its settings, releasing savepoints it did not create, naming the
ledger or ending the migration lock. What a migration's SQL must leave to the applier.
"""

from __future__ import annotations

import re

from .names import has_sequence, unquote
from .statements import Word, WordKind

Hit = tuple[str, str]  # rule id, what the statement does (a phrase after "Statement N (...)")

_TRANSACTION_WORDS = frozenset(
    {"TRANSACTION", "WORK", "DEFERRED", "IMMEDIATE", "EXCLUSIVE", "ISOLATION", "READ", "AND"}
)
LEDGER_NAME = "_prisma_migrations"
# Functions that end a session-level lock held by the migration's session: Prisma's own
# deploy holds its migration lock on the session that runs the script.
_UNLOCK_FUNCTIONS = frozenset(
    {
        "pg_advisory_unlock", "pg_advisory_unlock_all", "pg_advisory_unlock_shared",
        "release_lock", "release_all_locks",
    }
)  # fmt: skip
# One search of a statement's text (comments included) finds the statements worth reading
# word by word: most statements of a large data migration name neither.
LEDGER_OR_UNLOCK = re.compile(
    r"_prisma_migrations|pg_advisory_unlock|release_lock|release_all_locks", re.IGNORECASE
)
_UNLOCK_CALL = re.compile(
    r"\b(?:pg_advisory_unlock(?:_all|_shared)?|release_lock|release_all_locks)\s*\(",
    re.IGNORECASE,
)


# Session settings the ledger's reads and writes, and the next migrations, would run under.
_READ_ONLY = "READ_ONLY"


def session_setting(words: tuple[Word, ...], dialect: str | None) -> str | None:
    """What ``words`` change about the session the tool works in, if anything."""
    uppers = [word.upper for word in words if word.text != ";"]
    if not uppers:
        return None
    if uppers[0] == "SET":
        rest = uppers[_set_start(uppers) :]
        if rest[:1] == ["AUTHORIZATION"] or rest[:1] == ["ROLE"]:
            return "changes the role the session runs as"
        if rest[:1] in (["SEARCH_PATH"], ["SCHEMA"]):
            return "changes the session's search_path"
        if rest[:1] == ["CHARACTERISTICS"]:
            return "changes the transaction characteristics of the session"
        if has_sequence(rest, "READ", "ONLY") or any(_READ_ONLY in word for word in rest):
            return "makes transactions read-only"
        return None
    if "SET_CONFIG" in uppers:
        settings = [w.text.strip("'").upper() for w in words if w.kind is WordKind.STRING]
        if any(s in ("SEARCH_PATH", "ROLE") or _READ_ONLY in s for s in settings):
            return "changes the session's settings with set_config()"
    if uppers[0] == "USE" and dialect == "mysql":
        return "changes the session's default database (USE)"
    if uppers[0] == "PRAGMA" and any("QUERY_ONLY" in word for word in uppers):
        return "makes the connection read-only (PRAGMA query_only)"
    return None


# Settings that govern only how statements run (how long they may wait, what memory they use,
# what they report, how queries are planned): nothing the schema keeps depends on them.
_EXECUTION_SETTINGS = frozenset(
    {
        "lock_timeout", "statement_timeout", "idle_in_transaction_session_timeout",
        "idle_session_timeout", "transaction_timeout", "client_min_messages",
        "application_name", "maintenance_work_mem", "work_mem", "temp_buffers",
        "max_parallel_maintenance_workers", "max_parallel_workers_per_gather",
        "max_parallel_workers", "synchronous_commit", "jit", "random_page_cost",
        "seq_page_cost", "effective_cache_size", "effective_io_concurrency",
    }
)  # fmt: skip
_EXECUTION_PREFIXES = ("enable_", "log_")


def execution_setting(words: tuple[Word, ...]) -> bool:
    """Whether ``words`` SET or RESET, in any scope, a setting that governs only how
    statements run (a timeout, memory, messages, the planner's switches)."""
    texts = [word.text for word in words if word.text != ";"]
    uppers = [text.upper() for text in texts]
    if uppers[:1] == ["SET"]:
        start = _set_start(uppers)
    elif uppers[:1] == ["RESET"]:
        start = 1
    else:
        return False
    if len(texts) <= start:
        return False
    value, quoted = unquote(texts[start])
    name = value if quoted else value.lower()
    return name in _EXECUTION_SETTINGS or name.startswith(_EXECUTION_PREFIXES)


def _set_start(uppers: list[str]) -> int:
    """Where what a SET sets begins: after its scope (SESSION, LOCAL), if it names one."""
    return 2 if uppers[1:2] in (["SESSION"], ["LOCAL"]) else 1


def savepoint(words: tuple[Word, ...], created: set[str]) -> list[Hit]:
    """SAVEPOINT names what the script may release; releasing any other is the tool's."""
    uppers = [word.upper for word in words if word.text != ";"]
    if not uppers or uppers[0] not in ("SAVEPOINT", "RELEASE", "ROLLBACK") or len(uppers) < 2:
        return []
    if uppers[0] == "ROLLBACK" and "TO" not in uppers:
        return []
    spelled = [word.text for word in words if word.text != ";"][-1]
    value, quoted = unquote(spelled)
    name = value if quoted else value.lower()
    if uppers[0] == "SAVEPOINT":
        created.add(name)
        return []
    if name in created:
        if uppers[0] == "RELEASE":
            created.discard(name)
        return []
    verb = "releases" if uppers[0] == "RELEASE" else "rolls back to"
    return [("foreign-savepoint", f"{verb} savepoint {spelled}, which it did not create")]


def ledger_and_locks(words: tuple[Word, ...]) -> list[Hit]:
    """A statement naming the ledger or calling an unlock function, in its own words or in a
    string it may run (a routine body, an EXECUTE): the migration's SQL must leave both to
    the applier. Comments do not count."""
    ledger = unlock = False
    for position, word in enumerate(words):
        if word.kind is WordKind.STRING:
            ledger = ledger or LEDGER_NAME in word.text.lower()
            unlock = unlock or bool(_UNLOCK_CALL.search(word.text))
            continue
        name = unquote(word.text)[0].lower()
        ledger = ledger or name == LEDGER_NAME
        following = words[position + 1].text if position + 1 < len(words) else ""
        unlock = unlock or (name in _UNLOCK_FUNCTIONS and following == "(")
    found: list[Hit] = []
    if ledger:
        found.append(("ledger-table", f"names the ledger table {LEDGER_NAME}"))
    if unlock:
        found.append(("advisory-unlock", "releases session-level locks"))
    return found


def is_transaction_control(words: tuple[Word, ...]) -> bool:
    """BEGIN, START TRANSACTION, COMMIT, END, ABORT or ROLLBACK (not ROLLBACK TO a savepoint)."""
    uppers = [word.upper for word in words if word.text != ";"]
    if not uppers:
        return False
    if uppers[:2] == ["START", "TRANSACTION"]:
        return True
    if uppers[0] == "ROLLBACK":
        return "TO" not in uppers  # ROLLBACK TO SAVEPOINT stays inside the transaction
    if uppers[0] in ("BEGIN", "COMMIT", "END", "ABORT"):
        return len(uppers) == 1 or uppers[1] in _TRANSACTION_WORDS
    return False
