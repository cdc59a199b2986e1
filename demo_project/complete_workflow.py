import asyncio
from schema_manager import SchemaManager, Migration


async def apply_user_table_migration():
    # Initialize manager
    manager = SchemaManager()

    # Create migration
    migration = Migration(
        id="001_add_users_table",
        name="add_users_table",
        sql="""
            CREATE TABLE users (
                id SERIAL PRIMARY KEY,
                email VARCHAR(255) UNIQUE NOT NULL,
                name VARCHAR(255) NOT NULL,
                created_at TIMESTAMP DEFAULT NOW()
            );
            CREATE INDEX idx_users_email ON users(email);
        """,
        rollback_sql="""
            DROP INDEX IF EXISTS idx_users_email;
            DROP TABLE IF EXISTS users CASCADE;
        """,
    )

    # Validate first
    validation = await manager.validate_migration(migration)
    if not validation.is_valid:
        print("Validation failed:")
        for error in validation.errors:
            print(f"  - {error}")
        return

    if validation.warnings:
        print("Warnings:")
        for warning in validation.warnings:
            print(f"  - {warning}")

    # Apply to staging first
    print("Applying to staging...")
    staging_result = await manager.apply_migration(migration, environment="staging")

    if not staging_result.success:
        print(f"Staging failed: {staging_result.message}")
        return

    print(f"Staging successful in {staging_result.execution_time:.2f}s")

    # Apply to production
    print("Applying to production...")
    prod_result = await manager.apply_migration(migration, environment="production")

    if prod_result.success:
        print(f"Production migration successful in {prod_result.execution_time:.2f}s")

        # View history
        history = manager.get_version_history()
        print(f"\nTotal migrations applied: {len(history)}")
    else:
        print(f"Production migration failed: {prod_result.message}")
        if prod_result.error:
            print(f"Error: {prod_result.error}")


# Run the migration
asyncio.run(apply_user_table_migration())
