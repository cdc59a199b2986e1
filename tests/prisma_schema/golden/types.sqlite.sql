-- Every common SQLite column type and default.
CREATE TABLE all_types (
    id INTEGER NOT NULL PRIMARY KEY,
    c_int INT NOT NULL DEFAULT 1,
    c_integer INTEGER DEFAULT -5,
    c_bigint BIGINT DEFAULT 10000000000,
    c_real REAL DEFAULT 1.5,
    c_double DOUBLE PRECISION,
    c_float FLOAT,
    c_decimal DECIMAL(12, 4) DEFAULT 3.1415,
    c_numeric NUMERIC,
    c_boolean BOOLEAN DEFAULT false,
    c_char CHAR(3),
    c_varchar VARCHAR(10) DEFAULT 'it''s',
    c_text TEXT DEFAULT 'say "hi"',
    c_clob CLOB,
    c_blob BLOB,
    c_date DATE,
    c_datetime DATETIME,
    c_timestamp TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    c_json JSONB,
    c_untyped,
    c_expression INTEGER DEFAULT (1 + 2)
);
