DROP INDEX IF EXISTS customers_email_key;
DROP TABLE IF EXISTS customers;
