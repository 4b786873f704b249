CREATE TABLE instances (
    id          TEXT PRIMARY KEY,
    issuer      TEXT NOT NULL,
    mode        TEXT NOT NULL CHECK (mode IN ('AAD', 'Isolated')),
    generation  INTEGER NOT NULL DEFAULT 1,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE policies (
    instance_id      TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    attestation_type TEXT NOT NULL,
    jws              TEXT NOT NULL,
    text             TEXT NOT NULL,
    signer_cert      BLOB,
    version          INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    PRIMARY KEY (instance_id, attestation_type)
);

-- Deleted policies leave their last version here, so a re-set after a reset
-- continues the version sequence instead of restarting at 1.
CREATE TABLE policy_versions (
    instance_id      TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    attestation_type TEXT NOT NULL,
    version          INTEGER NOT NULL,
    PRIMARY KEY (instance_id, attestation_type)
);

CREATE TABLE policy_certificates (
    instance_id TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    thumbprint  TEXT NOT NULL,
    der         BLOB NOT NULL,
    added_at    INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    PRIMARY KEY (instance_id, thumbprint)
);

CREATE TABLE signing_keys (
    instance_id  TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    kid          TEXT NOT NULL,
    private_key  BLOB NOT NULL,
    cert_der     BLOB NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('active', 'published', 'retired')),
    created_at   INTEGER NOT NULL,
    activated_at INTEGER NOT NULL DEFAULT 0,
    retired_at   INTEGER NOT NULL DEFAULT 0,
    seq          INTEGER NOT NULL,
    PRIMARY KEY (instance_id, kid)
);

-- At most one active key per instance, enforced by the database itself.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (instance_id) WHERE state = 'active';
