-- Relations of every shape, keys and defaults (SQLite).
CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email VARCHAR(255) NOT NULL UNIQUE,
    name TEXT,
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    is_active BOOLEAN NOT NULL DEFAULT true
);

-- 1-1: a unique foreign key.
CREATE TABLE profiles (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    bio TEXT
);
CREATE UNIQUE INDEX profiles_user_id_key ON profiles (user_id);

-- 1-n, twice to the same table: Prisma names both relations.
CREATE TABLE posts (
    id INTEGER PRIMARY KEY,
    author_id INTEGER NOT NULL REFERENCES users (id),
    reviewer_id INTEGER REFERENCES users (id) ON DELETE SET NULL,
    title VARCHAR(200) NOT NULL,
    body TEXT NOT NULL DEFAULT '',
    published_at DATETIME
);
CREATE INDEX posts_author_id_idx ON posts (author_id);
CREATE INDEX posts_title_published ON posts (title, published_at);

CREATE TABLE tags (
    id INTEGER PRIMARY KEY,
    label VARCHAR(50) NOT NULL
);
CREATE UNIQUE INDEX tags_label_uniq ON tags (label);

-- m-n through a join table with a composite primary key.
CREATE TABLE post_tags (
    post_id INTEGER NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    tag_id INTEGER NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    added_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (post_id, tag_id)
);

-- Self relation.
CREATE TABLE employees (
    id INTEGER PRIMARY KEY,
    manager_id INTEGER REFERENCES employees (id),
    name TEXT NOT NULL
);

CREATE TABLE orders (
    id TEXT PRIMARY KEY NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    total DECIMAL(10, 2) NOT NULL DEFAULT 0,
    user_id INTEGER NOT NULL,
    region CHAR(2) NOT NULL DEFAULT 'EU',
    FOREIGN KEY (user_id) REFERENCES users (id) ON UPDATE CASCADE
);
CREATE UNIQUE INDEX orders_user_id_region_key ON orders (user_id, region);

-- Composite foreign key onto a composite unique.
CREATE TABLE shipments (
    id INTEGER NOT NULL PRIMARY KEY,
    user_id INTEGER NOT NULL,
    region CHAR(2) NOT NULL,
    FOREIGN KEY (user_id, region) REFERENCES orders (user_id, region)
);

-- No unique identifier: Prisma cannot use it.
CREATE TABLE event_log (
    happened_at DATETIME,
    message TEXT
);

-- Names that are not Prisma identifiers.
CREATE TABLE "Weird-Name" (
    "first name" TEXT NOT NULL PRIMARY KEY,
    "2nd" INTEGER,
    "Created At" DATETIME DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX "Weird-Name_2nd_idx" ON "Weird-Name" ("2nd");

CREATE VIEW active_users AS SELECT id, email FROM users WHERE is_active;
