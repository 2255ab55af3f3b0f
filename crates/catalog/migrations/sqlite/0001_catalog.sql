-- The tag catalog: assets, tags and the history of every change.
-- Ids are never reused (AUTOINCREMENT), so a deleted tag's id cannot be
-- mistaken for a new tag in stored history.

CREATE TABLE catalog_assets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    description TEXT NOT NULL,
    attributes TEXT NOT NULL,
    version BIGINT NOT NULL
);

CREATE TABLE catalog_tags (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL UNIQUE,
    asset_id BIGINT NOT NULL REFERENCES catalog_assets (id),
    description TEXT NOT NULL,
    unit TEXT,
    data_type TEXT NOT NULL,
    valid_lo DOUBLE PRECISION,
    valid_hi DOUBLE PRECISION,
    engineering_lo DOUBLE PRECISION,
    engineering_hi DOUBLE PRECISION,
    max_change_per_s DOUBLE PRECISION,
    deadband DOUBLE PRECISION,
    criticality TEXT NOT NULL,
    protocol TEXT,
    address TEXT,
    attributes TEXT NOT NULL,
    version BIGINT NOT NULL
);

CREATE INDEX catalog_tags_asset ON catalog_tags (asset_id);

-- One row per change. Versions are numbered by the writer, which holds the
-- catalog's write lock, so they commit in order and never leave a gap.
CREATE TABLE catalog_changes (
    version BIGINT PRIMARY KEY,
    at_us BIGINT NOT NULL,
    actor TEXT NOT NULL,
    operation TEXT NOT NULL,
    entity TEXT NOT NULL,
    entity_id BIGINT NOT NULL,
    path TEXT NOT NULL,
    fields TEXT NOT NULL,
    before_json TEXT,
    after_json TEXT
);

CREATE INDEX catalog_changes_path ON catalog_changes (path);
