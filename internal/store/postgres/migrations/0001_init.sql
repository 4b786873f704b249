-- Maat schema, PostgreSQL dialect. Mirrors internal/store/sqlite/migrations/0001_init.sql;
-- timestamps are timestamptz (microseconds), absent timestamps are NULL.

CREATE TABLE instances (
    id          TEXT PRIMARY KEY,
    issuer      TEXT NOT NULL,
    mode        TEXT NOT NULL CHECK (mode IN ('AAD', 'Isolated')),
    -- Bumped (under the row lock) by every transaction that changes anything
    -- of the instance; the row lock also serialises those transactions.
    generation  BIGINT NOT NULL DEFAULT 1,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE policies (
    instance_id      TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    attestation_type TEXT NOT NULL,
    jws              TEXT NOT NULL,
    text             TEXT NOT NULL,
    signer_cert      BYTEA,
    version          BIGINT NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (instance_id, attestation_type)
);

-- Deleted policies leave their last version here, so a re-set after a reset
-- continues the version sequence instead of restarting at 1.
CREATE TABLE policy_versions (
    instance_id      TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    attestation_type TEXT NOT NULL,
    version          BIGINT NOT NULL,
    PRIMARY KEY (instance_id, attestation_type)
);

CREATE TABLE policy_certificates (
    instance_id TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    thumbprint  TEXT NOT NULL,
    der         BYTEA NOT NULL,
    added_at    TIMESTAMPTZ NOT NULL,
    -- Insertion order ("oldest first"); a global sequence is ordered per instance too.
    seq         BIGINT GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (instance_id, thumbprint)
);

CREATE TABLE signing_keys (
    instance_id  TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    kid          TEXT NOT NULL,
    private_key  BYTEA NOT NULL,
    cert_der     BYTEA NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('active', 'published', 'retired')),
    created_at   TIMESTAMPTZ NOT NULL,
    activated_at TIMESTAMPTZ,
    retired_at   TIMESTAMPTZ,
    seq          BIGINT GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (instance_id, kid)
);

-- At most one active key per instance, enforced by the database itself.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (instance_id) WHERE state = 'active';
