class DefaultOnlyRouter:
    """Django's own tables live in 'default' only; targets hold only what migrations create."""

    def allow_migrate(self, db: str, app_label: str, **hints) -> bool:
        return db == "default"


class ModelOn:
    """Route one model to one database (an app database on PostgreSQL, in a test)."""

    def __init__(self, model, alias: str) -> None:
        self.model, self.alias = model, alias

    def db_for_read(self, model, **hints):
        return self.alias if model is self.model else None

    db_for_write = db_for_read


def move_model(model, alias: str, monkeypatch) -> str:
    """Create ``model``'s table on ``alias`` and route the model there for one test."""
    from django.db import connections, router

    with connections[alias].schema_editor() as editor:
        editor.create_model(model)
    monkeypatch.setattr(router, "routers", [ModelOn(model, alias)])
    return alias
