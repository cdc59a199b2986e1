"""Moving a large migration.sql into and out of the catalogue without holding it several
times over.

Bound as a query parameter, a data migration of tens of megabytes would be held whole
several times at once: decoded from the file, encoded, escaped and quoted into the
statement, then copied into the driver's buffer. On PostgreSQL it is instead streamed from
its file into the row with COPY, a megabyte at a time (checked on the way, so a file that
is not UTF-8 is still refused with the usual message), and read back a megabyte at a time.
Other engines insert and read it as usual.
"""

from __future__ import annotations

from django.db import IntegrityError, connections, router, transaction
from django.db.models.functions import Length, Substr
from django.utils import timezone

from .files import MIGRATION_FILE, ROLLBACK_FILE, FolderChecksum
from .models import Migration, id_chunks
from .security import get_logger

logger = get_logger("schema_manager.large_scripts")

# migration.sql files larger than this many bytes are streamed.
STREAM_ABOVE = 1 << 20
# Per step: bytes read from the file, characters read back. Small enough that a step's
# few transient copies (decoded, escaped, encoded) stay a fraction of a large script.
_CHUNK = 1 << 18
# COPY's text format: these four characters are written as escapes.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def streams(folder: FolderChecksum) -> bool:
    """Whether ``folder``'s migration.sql is large enough, and the app database able, to be
    streamed into the catalogue rather than read and inserted whole."""
    alias = router.db_for_write(Migration)
    return (
        connections[alias].vendor == "postgresql"
        and (folder.path / MIGRATION_FILE).stat().st_size > STREAM_ABOVE
    )


def stream_in(folder: FolderChecksum) -> Migration | None:
    """COPY ``folder`` into the catalogue; the entry (its SQL deferred, not read back), or
    None if a concurrent import stored it first."""
    alias = router.db_for_write(Migration)
    connection = connections[alias]
    now = timezone.now().isoformat()
    rollback_sql = folder.read(ROLLBACK_FILE)
    name = folder.id.split("_", 1)[1] if "_" in folder.id else folder.id
    columns = "id, name, sql, rollback_sql, checksum, kept_on_disk, created_at, updated_at"
    quote = connection.ops.quote_name
    try:
        # A savepoint inside a caller's transaction: a refused row must not spoil it.
        with transaction.atomic(using=alias), connection.cursor() as cursor:
            table = quote(Migration._meta.db_table)
            # The driver's own COPY (Django has none): its errors become Django's here.
            with (
                connection.wrap_database_errors,
                cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
            ):
                copy.write(f"{_escape(folder.id)}\t{_escape(name)}\t")
                for text in folder.text_chunks(MIGRATION_FILE):
                    copy.write(_escape(text))
                copy.write(f"\t{_escape(rollback_sql)}\t{folder.checksum}\tt\t{now}\t{now}\n")
    except IntegrityError:
        return None  # imported a moment ago by another process: nothing to do
    logger.info("Streamed %s into the catalogue", folder.id)
    return Migration.objects.using(alias).defer("sql").get(pk=folder.id)


def load_sql(migrations: list[Migration]) -> None:
    """Give entries loaded without their SQL (``defer("sql")``) their SQL: the small ones in
    one query per ``IDS_PER_QUERY``, a large one (PostgreSQL) in chunks, so that the driver
    never holds its whole text besides the string made of it."""
    by_id = {migration.id: migration for migration in migrations}
    alias = router.db_for_read(Migration)
    large: set[str] = set()
    if connections[alias].vendor == "postgresql":
        for chunk in id_chunks(by_id):
            lengths = (
                Migration.objects.using(alias)
                .filter(pk__in=chunk)
                .annotate(length=Length("sql"))
                .values_list("id", "length")
            )
            large.update(migration_id for migration_id, length in lengths if length > STREAM_ABOVE)
    for chunk in id_chunks(set(by_id) - large):
        texts = Migration.objects.using(alias).filter(pk__in=chunk).values_list("id", "sql")
        for migration_id, sql in texts:
            by_id[migration_id].sql = sql
    for migration_id in sorted(large):
        by_id[migration_id].sql = _read_in_chunks(alias, migration_id)


def _read_in_chunks(alias: str, migration_id: str) -> str:
    rows = Migration.objects.using(alias).filter(pk=migration_id)
    text = ""
    while True:
        start = len(text) + 1  # SQL counts characters from 1
        piece = rows.annotate(piece=Substr("sql", start, _CHUNK)).values_list("piece", flat=True)
        more = piece.get()
        if not more:
            return text
        # Appended to the only reference: CPython grows the string in place (no list of
        # pieces beside a joined copy).
        text += more


def _escape(text: str) -> str:
    return text.translate(_COPY_ESCAPES)
