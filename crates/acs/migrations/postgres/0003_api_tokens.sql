-- API tokens: an optional expiry, and unique names (`DELETE /tokens/{name}`, `token:<name>`
-- in the audit log). Of a name given more than once, the first token keeps it; the others
-- get ` #<id>` appended and stay valid.
ALTER TABLE api_tokens ADD COLUMN expires_at BIGINT;
UPDATE api_tokens t SET name = t.name || ' #' || t.id
    WHERE t.id <> (SELECT MIN(u.id) FROM api_tokens u WHERE u.name = t.name);
CREATE UNIQUE INDEX api_tokens_name ON api_tokens (name);
