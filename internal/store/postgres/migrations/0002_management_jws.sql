-- Signed management requests applied to an instance, so that a request
-- superseded by a later one of the same scope cannot be replayed (rolled
-- back to). One current request per scope.
CREATE TABLE management_jws (
    instance_id TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    scope       TEXT NOT NULL,
    hash        TEXT NOT NULL,
    issued_at   TIMESTAMPTZ,
    applied_at  TIMESTAMPTZ NOT NULL,
    current     BOOLEAN NOT NULL,
    PRIMARY KEY (instance_id, scope, hash)
);

CREATE UNIQUE INDEX management_jws_one_current ON management_jws (instance_id, scope) WHERE current;
