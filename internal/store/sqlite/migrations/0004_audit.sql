-- The audit trail of management operations (issue 16). Append-only; not
-- tied to the instance row, so records outlive what they describe.
CREATE TABLE audit_log (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    at               INTEGER NOT NULL,
    instance_id      TEXT NOT NULL,
    operation        TEXT NOT NULL,
    attestation_type TEXT NOT NULL DEFAULT '',
    caller_kind      TEXT NOT NULL DEFAULT '',
    caller_subject   TEXT NOT NULL DEFAULT '',
    caller_object_id TEXT NOT NULL DEFAULT '',
    signer           TEXT NOT NULL DEFAULT '',
    request_id       TEXT NOT NULL DEFAULT '',
    result           TEXT NOT NULL,
    message          TEXT NOT NULL DEFAULT '',
    before_value     TEXT NOT NULL DEFAULT '',
    after_value      TEXT NOT NULL DEFAULT ''
);

CREATE INDEX audit_log_instance_at ON audit_log (instance_id, at);
