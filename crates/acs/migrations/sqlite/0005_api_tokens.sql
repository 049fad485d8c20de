-- API tokens: an optional expiry, and unique names (`DELETE /tokens/{name}`, `token:<name>`
-- in the audit log). Of a name given more than once, the first token keeps it; the others
-- get ` #<id>` appended and stay valid.
ALTER TABLE api_tokens ADD COLUMN expires_at INTEGER;
UPDATE api_tokens SET name = name || ' #' || id
    WHERE id NOT IN (SELECT MIN(id) FROM api_tokens GROUP BY name);
CREATE UNIQUE INDEX api_tokens_name ON api_tokens (name);
