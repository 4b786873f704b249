-- Keys for secure key release (Maat extension, /x-maat/keys/).
CREATE TABLE release_keys (
    instance_id    TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    key_type       TEXT NOT NULL,
    sealed_key     BLOB NOT NULL,
    release_policy TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    PRIMARY KEY (instance_id, name)
);
