class DefaultOnlyRouter:
    """Django's own tables live in 'default' only; targets hold only what migrations create."""

    def allow_migrate(self, db: str, app_label: str, **hints) -> bool:
        return db == "default"
