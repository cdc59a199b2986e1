-- AlterTable (no down.sql: the rollback is generated)
ALTER TABLE customers ADD COLUMN phone VARCHAR(32);
