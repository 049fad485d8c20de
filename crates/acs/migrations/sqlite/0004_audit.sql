-- The audit log: who did what to what, from where (API writes, CPE authentication
-- decisions). Read newest first, by time and by target; pruned by age.
CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT,
    address TEXT,
    detail TEXT NOT NULL
);
CREATE INDEX audit_at ON audit (at);
CREATE INDEX audit_target ON audit (target, at) WHERE target IS NOT NULL;
