-- Signed management requests applied to an instance, so that a request
-- superseded by a later one of the same scope cannot be replayed (rolled
-- back to). One current request per scope.
CREATE TABLE management_jws (
    instance_id TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    scope       TEXT NOT NULL,
    hash        TEXT NOT NULL,
    issued_at   INTEGER NOT NULL DEFAULT 0,
    applied_at  INTEGER NOT NULL,
    current     INTEGER NOT NULL CHECK (current IN (0, 1)),
    PRIMARY KEY (instance_id, scope, hash)
);

CREATE UNIQUE INDEX management_jws_one_current ON management_jws (instance_id, scope) WHERE current = 1;
