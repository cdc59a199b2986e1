-- Edge cases: Prisma's implicit many-to-many tables, two self relations, a column named like
-- a table, models Prisma ignores (a nullable primary key is no identifier in SQLite), the
-- declared types and defaults Prisma's SQLite reader knows and does not know.
CREATE TABLE author (id INTEGER PRIMARY KEY);
CREATE TABLE book (
    id INTEGER PRIMARY KEY,
    author INT REFERENCES author (id),
    co_author INT REFERENCES author
);
CREATE TABLE person (
    id INTEGER NOT NULL,
    mother_id INT REFERENCES person (id),
    father_id INT REFERENCES person (id),
    PRIMARY KEY (id)
);

CREATE TABLE "Category" (id INTEGER PRIMARY KEY);
CREATE TABLE "Post" (id INTEGER PRIMARY KEY);
CREATE TABLE "_CategoryToPost" (
    "A" INTEGER NOT NULL,
    "B" INTEGER NOT NULL,
    FOREIGN KEY ("A") REFERENCES "Category" ("id") ON DELETE CASCADE ON UPDATE CASCADE,
    FOREIGN KEY ("B") REFERENCES "Post" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE UNIQUE INDEX "_CategoryToPost_AB_unique" ON "_CategoryToPost" ("A", "B");
CREATE INDEX "_CategoryToPost_B_index" ON "_CategoryToPost" ("B");

CREATE TABLE nokey (x INT, y INT REFERENCES author (id));

CREATE TABLE declared (
    id BIGINT PRIMARY KEY,
    t TINYINT,
    n VARCHAR,
    d DOUBLE,
    j JSON,
    dt DATETIME(3),
    c CHARACTER(20),
    nc NVARCHAR(10),
    ui INTEGER UNIQUE,
    desc_i INTEGER
);
CREATE INDEX declared_desc ON declared (desc_i DESC, t);
CREATE INDEX declared_expr ON declared (lower(n));
CREATE INDEX declared_part ON declared (t) WHERE t > 0;

CREATE TABLE defaults (
    id INTEGER PRIMARY KEY,
    a SERIAL,
    b BINARY,
    created_at DATETIME NOT NULL DEFAULT (datetime('now')),
    e DATETIME DEFAULT (CURRENT_TIMESTAMP),
    f REAL DEFAULT 0.5,
    yes BOOLEAN DEFAULT 1,
    no BOOLEAN DEFAULT 0,
    n NUMERIC DEFAULT 1.50,
    s TEXT DEFAULT NULL,
    p TEXT DEFAULT ('x'),
    g INTEGER DEFAULT (-1)
);
