-- Edge cases: Prisma's implicit many-to-many tables, two self relations, a column named like
-- a table, a model Prisma ignores and the relations to it, arrays.
CREATE TABLE author (id INTEGER PRIMARY KEY);
CREATE TABLE book (
    id INTEGER PRIMARY KEY,
    author INTEGER REFERENCES author (id),
    co_author INTEGER REFERENCES author (id)
);
CREATE TABLE person (
    id INTEGER PRIMARY KEY,
    mother_id INTEGER REFERENCES person (id),
    father_id INTEGER REFERENCES person (id)
);

CREATE TABLE "Category" (id INTEGER PRIMARY KEY);
CREATE TABLE "Post" (id INTEGER PRIMARY KEY);
CREATE TABLE "Tag" (id INTEGER PRIMARY KEY);
CREATE TABLE "_CategoryToPost" (
    "A" INTEGER NOT NULL REFERENCES "Category" (id) ON DELETE CASCADE ON UPDATE CASCADE,
    "B" INTEGER NOT NULL REFERENCES "Post" (id) ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE UNIQUE INDEX "_CategoryToPost_AB_unique" ON "_CategoryToPost" ("A", "B");
CREATE INDEX "_CategoryToPost_B_index" ON "_CategoryToPost" ("B");
-- A named implicit relation (@relation("PostTags") in the Prisma schema that made it).
CREATE TABLE "_PostTags" (
    "A" INTEGER NOT NULL REFERENCES "Post" (id) ON DELETE CASCADE ON UPDATE CASCADE,
    "B" INTEGER NOT NULL REFERENCES "Tag" (id) ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE UNIQUE INDEX "_PostTags_AB_unique" ON "_PostTags" ("A", "B");
CREATE INDEX "_PostTags_B_index" ON "_PostTags" ("B");

CREATE TABLE nokey (x INTEGER, y INTEGER REFERENCES author (id));

CREATE TYPE mood AS ENUM ('a', 'b');
CREATE TABLE arrays (
    id INTEGER PRIMARY KEY,
    moods mood[],
    names VARCHAR(10)[],
    stamps TIMESTAMPTZ(3)[],
    flag BOOLEAN DEFAULT NULL,
    rank INTEGER,
    label TEXT
);
CREATE INDEX arrays_rank_desc ON arrays (rank DESC, label);
CREATE INDEX arrays_lower_label ON arrays (lower(label));
CREATE INDEX arrays_positive ON arrays (rank) WHERE rank > 0;

-- Domains, generated columns, GIN indexes, a descending unique, literal defaults of every kind,
-- a partitioned table (its partitions are not models).
CREATE DOMAIN positive AS INTEGER CHECK (VALUE > 0);
CREATE TABLE features (
    id SMALLSERIAL PRIMARY KEY,
    vectors TSVECTOR[],
    amount positive,
    doubled INTEGER GENERATED ALWAYS AS (id * 2) STORED,
    since TIMESTAMP DEFAULT '2020-01-01 00:00:00',
    doc JSON DEFAULT '[]',
    delta NUMERIC(5, 2) DEFAULT -1.5,
    ratio DOUBLE PRECISION DEFAULT 1e3,
    big BIGINT DEFAULT -9,
    codes VARCHAR(5)[] DEFAULT ARRAY['a', 'b']::VARCHAR[],
    counts INTEGER[] DEFAULT '{1,2}',
    day DATE DEFAULT '2020-01-02',
    letter "char",
    label NAME,
    raw BYTEA DEFAULT '\x00',
    yes BOOLEAN DEFAULT 't',
    token UUID DEFAULT '00000000-0000-0000-0000-000000000000'
);
CREATE UNIQUE INDEX features_big_desc ON features (big DESC);
CREATE INDEX features_vectors ON features USING gin (vectors);
CREATE TABLE regions (id INTEGER, region TEXT, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE regions_eu PARTITION OF regions FOR VALUES IN ('eu');
