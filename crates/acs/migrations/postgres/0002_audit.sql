-- The audit log: who did what to what, from where (API writes, CPE authentication
-- decisions). Read newest first, by time and by target; pruned by age.
CREATE TABLE audit (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT COLLATE "C" NOT NULL,
    action TEXT COLLATE "C" NOT NULL,
    target TEXT COLLATE "C",
    address TEXT,
    detail JSONB NOT NULL
);
CREATE INDEX audit_at ON audit (at, id);
CREATE INDEX audit_target ON audit (target, at) WHERE target IS NOT NULL;
