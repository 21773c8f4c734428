-- scimd database schema. This file is the whole schema: it is embedded in the
-- binary and applied in sections keyed on PRAGMA user_version. A section is
-- never edited once released; a change is a new section appended below.
-- Every key on per-integration data starts with integration_id, because every
-- query is scoped to one integration.

-- migration 1
CREATE TABLE server_secret (
    name  TEXT PRIMARY KEY,          -- 'tls_cert_pem', 'tls_key_pem'
    value TEXT NOT NULL
);

CREATE TABLE integration (
    id      TEXT PRIMARY KEY,        -- 'int_' + random
    name    TEXT NOT NULL,
    created TEXT NOT NULL,           -- RFC 3339 UTC, fixed width, so text order is time order
    enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    -- Settings (`scimd integration set`); read on every request that needs them.
    delete_mode     TEXT NOT NULL DEFAULT 'deactivate' CHECK (delete_mode IN ('deactivate', 'delete')),
    unique_email    INTEGER NOT NULL DEFAULT 0,
    require_mapping INTEGER NOT NULL DEFAULT 0,
    groups_as_roles INTEGER NOT NULL DEFAULT 0,
    pin_digits      INTEGER NOT NULL DEFAULT 0 CHECK (pin_digits = 0 OR pin_digits BETWEEN 4 AND 8),
    rate_limit      INTEGER NOT NULL DEFAULT 100 CHECK (rate_limit > 0),
    rate_burst      INTEGER NOT NULL DEFAULT 200 CHECK (rate_burst > 0)
);

CREATE TABLE token (
    hash           BLOB PRIMARY KEY, -- SHA-256 of the whole token; the secret itself is never stored
    integration_id TEXT NOT NULL REFERENCES integration(id) ON DELETE CASCADE,
    prefix         TEXT NOT NULL,    -- first 10 characters, for humans
    created        TEXT NOT NULL,
    last_used      TEXT,
    expires        TEXT,             -- NULL: valid until rotated or revoked
    revoked        TEXT              -- NULL: not revoked
) WITHOUT ROWID;
CREATE INDEX token_by_integration ON token(integration_id);

CREATE TABLE scim_user (
    seq            INTEGER PRIMARY KEY,   -- insertion order: stable tie-breaker and cursor key
    integration_id TEXT NOT NULL REFERENCES integration(id) ON DELETE CASCADE,
    id             TEXT NOT NULL,
    user_name      TEXT NOT NULL,
    user_name_fold TEXT NOT NULL,         -- lower-cased userName: uniqueness and eq are case-insensitive
    external_id    TEXT,
    primary_email  TEXT,                  -- lower-cased
    display_name   TEXT,
    active         INTEGER NOT NULL DEFAULT 1,
    created        TEXT NOT NULL,
    last_modified  TEXT NOT NULL,
    version        INTEGER NOT NULL DEFAULT 1,
    resource       TEXT NOT NULL,         -- canonical resource JSON without id and meta
    -- Local state, never part of the SCIM view:
    deprovisioned  TEXT,                  -- set by DELETE in 'deactivate' mode: SCIM no longer sees the user
    roles          TEXT NOT NULL DEFAULT '[]', -- sorted JSON array, recomputed in every transaction that affects it
    entitled       INTEGER NOT NULL DEFAULT 0, -- live, active and (has a role or mapping not required)
    pin            TEXT                   -- random numeric PIN, generated locally, never sent over SCIM
);
CREATE UNIQUE INDEX scim_user_id ON scim_user(integration_id, id);
CREATE UNIQUE INDEX scim_user_name ON scim_user(integration_id, user_name_fold);
CREATE INDEX scim_user_external_id ON scim_user(integration_id, external_id);
CREATE INDEX scim_user_primary_email ON scim_user(integration_id, primary_email);
CREATE INDEX scim_user_display_name ON scim_user(integration_id, display_name COLLATE NOCASE);
CREATE INDEX scim_user_last_modified ON scim_user(integration_id, last_modified);
CREATE UNIQUE INDEX scim_user_pin ON scim_user(integration_id, pin) WHERE pin IS NOT NULL;
CREATE INDEX scim_user_entitled ON scim_user(integration_id, entitled);

-- Every email value of a user, lower-cased: `emails.value eq` and email uniqueness use this.
CREATE TABLE scim_user_email (
    user_seq       INTEGER NOT NULL REFERENCES scim_user(seq) ON DELETE CASCADE,
    integration_id TEXT NOT NULL,
    value_fold     TEXT NOT NULL,
    type           TEXT,
    is_primary     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX scim_user_email_value ON scim_user_email(integration_id, value_fold);
CREATE INDEX scim_user_email_user ON scim_user_email(user_seq);

CREATE TABLE scim_group (
    seq            INTEGER PRIMARY KEY,
    integration_id TEXT NOT NULL REFERENCES integration(id) ON DELETE CASCADE,
    id             TEXT NOT NULL,
    display_name   TEXT NOT NULL,         -- not unique: Entra allows two groups with one name
    external_id    TEXT,
    created        TEXT NOT NULL,
    last_modified  TEXT NOT NULL,
    version        INTEGER NOT NULL DEFAULT 1,
    resource       TEXT NOT NULL          -- canonical resource JSON without id, meta and members
);
CREATE UNIQUE INDEX scim_group_id ON scim_group(integration_id, id);
CREATE UNIQUE INDEX scim_group_external_id ON scim_group(integration_id, external_id)
    WHERE external_id IS NOT NULL;
CREATE INDEX scim_group_display_name ON scim_group(integration_id, display_name COLLATE NOCASE);
CREATE INDEX scim_group_last_modified ON scim_group(integration_id, last_modified);

-- Group membership is a table, never a JSON array: adding one member to a
-- 100 000-member group costs one indexed insert. A member is a user or a group.
CREATE TABLE membership (
    group_seq        INTEGER NOT NULL REFERENCES scim_group(seq) ON DELETE CASCADE,
    member_user_seq  INTEGER REFERENCES scim_user(seq) ON DELETE CASCADE,
    member_group_seq INTEGER REFERENCES scim_group(seq) ON DELETE CASCADE,
    CHECK ((member_user_seq IS NULL) <> (member_group_seq IS NULL))
);
CREATE UNIQUE INDEX membership_user ON membership(group_seq, member_user_seq)
    WHERE member_user_seq IS NOT NULL;
CREATE UNIQUE INDEX membership_group ON membership(group_seq, member_group_seq)
    WHERE member_group_seq IS NOT NULL;
CREATE INDEX membership_by_user ON membership(member_user_seq) WHERE member_user_seq IS NOT NULL;
CREATE INDEX membership_by_group ON membership(member_group_seq) WHERE member_group_seq IS NOT NULL;

-- IdP group → local role. `group_key` matches a group's id, externalId or
-- displayName (case-insensitively); it may name a group that does not exist yet.
CREATE TABLE mapping (
    integration_id TEXT NOT NULL REFERENCES integration(id) ON DELETE CASCADE,
    group_key      TEXT NOT NULL,
    group_key_fold TEXT NOT NULL,
    role           TEXT NOT NULL,
    created        TEXT NOT NULL,
    PRIMARY KEY (integration_id, group_key_fold, role)
) WITHOUT ROWID;

CREATE TABLE audit (
    seq            INTEGER PRIMARY KEY,
    time           TEXT NOT NULL,
    integration_id TEXT,                  -- no foreign key: the trail outlives a deleted integration
    event          TEXT NOT NULL,         -- ACCOUNT_SCIM_USER_CREATED, TENANT_SCIM_TOKEN_CREATED, ...
    code           TEXT,                  -- stable error code for rejected requests
    resource_type  TEXT,
    resource_id    TEXT,
    external_id    TEXT,
    request_id     TEXT,
    actor          TEXT,                  -- OS user for CLI actions, 'scim' for IdP pushes
    detail         TEXT,                  -- never a token, password or PIN
    -- Rejected requests (event SCIM_REQUEST_REJECTED) are aggregated: at most one
    -- row per integration (NULL when unknown), code, source address and minute.
    source         TEXT,                  -- client address of a rejected request
    minute         TEXT,                  -- 'YYYY-MM-DDTHH:MM' of a rejected request; NULL on other rows
    count          INTEGER NOT NULL DEFAULT 1 -- requests this row stands for
);
CREATE INDEX audit_by_integration_time ON audit(integration_id, time);
CREATE UNIQUE INDEX audit_rejection ON audit(ifnull(integration_id, ''), code, source, minute)
    WHERE minute IS NOT NULL;

-- migration 2
-- The few deprovisioned users per integration. SCIM queries exclude them with
-- `u.seq NOT IN (<these>)`, a set SQLite builds once per statement, rather
-- than by reading every candidate row's `deprovisioned` column: so counting,
-- sorting and skipping (startIndex) can walk an index without touching the
-- table rows.
CREATE INDEX scim_user_deprovisioned ON scim_user(integration_id) WHERE deprovisioned IS NOT NULL;

-- Live (not deprovisioned) users per integration, kept by triggers so no code
-- path can forget it: the exact totalResults of an unfiltered list is then
-- one row read instead of a count over every user.
CREATE TABLE live_user_count (
    integration_id TEXT PRIMARY KEY REFERENCES integration(id) ON DELETE CASCADE,
    live           INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
INSERT INTO live_user_count(integration_id, live)
    SELECT i.id, (SELECT count(*) FROM scim_user u WHERE u.integration_id = i.id AND u.deprovisioned IS NULL)
    FROM integration i;
CREATE TRIGGER live_user_count_new_integration AFTER INSERT ON integration BEGIN
    INSERT OR IGNORE INTO live_user_count(integration_id, live) VALUES (NEW.id, 0);
END;
CREATE TRIGGER live_user_count_insert AFTER INSERT ON scim_user WHEN NEW.deprovisioned IS NULL BEGIN
    UPDATE live_user_count SET live = live + 1 WHERE integration_id = NEW.integration_id;
END;
CREATE TRIGGER live_user_count_delete AFTER DELETE ON scim_user WHEN OLD.deprovisioned IS NULL BEGIN
    UPDATE live_user_count SET live = live - 1 WHERE integration_id = OLD.integration_id;
END;
CREATE TRIGGER live_user_count_deprovision AFTER UPDATE OF deprovisioned ON scim_user
    WHEN (OLD.deprovisioned IS NULL) <> (NEW.deprovisioned IS NULL) BEGIN
    UPDATE live_user_count SET live = live + (CASE WHEN NEW.deprovisioned IS NULL THEN 1 ELSE -1 END)
        WHERE integration_id = NEW.integration_id;
END;

-- Deleting a group, or removing all its members, looks membership up by
-- group alone, which the partial unique indexes of migration 1 cannot serve.
-- Full unique indexes keep the same guarantee (NULLs never collide) and can.
DROP INDEX membership_user;
DROP INDEX membership_group;
CREATE UNIQUE INDEX membership_user ON membership(group_seq, member_user_seq);
CREATE UNIQUE INDEX membership_group ON membership(group_seq, member_group_seq);

-- userName is unique among live users only: a deprovisioned record must not
-- block an IdP from renaming a live user to its old name (the IdP cannot see
-- it, so it could never resolve the 409). Revival still finds it by name.
DROP INDEX scim_user_name;
CREATE INDEX scim_user_name ON scim_user(integration_id, user_name_fold);
CREATE UNIQUE INDEX scim_user_name_live ON scim_user(integration_id, user_name_fold)
    WHERE deprovisioned IS NULL;

-- migration 3
-- New per-integration rate defaults (issue 9): the token bucket is a generous
-- ceiling (5000 requests/s, burst 10000), and fairness between integrations
-- comes from each one's share of requests in flight. The column defaults of
-- migration 1 cannot be altered in SQLite, so `integrations::create` writes
-- the current defaults explicitly; rows still at the old defaults (100/200)
-- move to the new ones.
UPDATE integration SET rate_limit = 5000, rate_burst = 10000
    WHERE rate_limit = 100 AND rate_burst = 200;

-- migration 4
-- The change feed (issue 13): one row per change, written in the transaction
-- of the change itself, so a local application that remembers the last `seq`
-- it read never misses a change and never sees one twice. AUTOINCREMENT so a
-- seq is never reused, even after old rows are pruned. `data` is JSON: the
-- resource's id and names plus the user's resulting local state (entitled,
-- roles, PIN).
CREATE TABLE changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    integration_id TEXT NOT NULL,
    time TEXT NOT NULL,
    type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX changes_by_integration ON changes(integration_id, seq);
-- The mass-deactivation breaker holds entitlement revocations: a held user
-- keeps `entitled = 1` (doors keep opening) and has `held = 1` until
-- `scimd breaker release` applies the revocation.
ALTER TABLE scim_user ADD COLUMN held INTEGER NOT NULL DEFAULT 0;

-- migration 5
-- The mass-deactivation breaker (issue 13): per-integration thresholds, and
-- its state. `breaker_window` is in seconds. `breaker_tripped` is when it
-- tripped (NULL: not tripped); `breaker_released` is the last release, after
-- which the window counts afresh.
ALTER TABLE integration ADD COLUMN breaker_on INTEGER NOT NULL DEFAULT 1;
ALTER TABLE integration ADD COLUMN breaker_percent INTEGER NOT NULL DEFAULT 25;
ALTER TABLE integration ADD COLUMN breaker_min INTEGER NOT NULL DEFAULT 10;
ALTER TABLE integration ADD COLUMN breaker_window INTEGER NOT NULL DEFAULT 900;
ALTER TABLE integration ADD COLUMN breaker_tripped TEXT;
ALTER TABLE integration ADD COLUMN breaker_released TEXT;
-- The breaker counts deactivations and deletions in its window from the
-- feed itself. A partial index: the other event types cost it nothing.
CREATE INDEX changes_removals ON changes(integration_id, time)
    WHERE type IN ('user.deactivated', 'user.deleted');
-- Held users are few; `integration show` and `breaker release` find them here.
CREATE INDEX scim_user_held ON scim_user(integration_id) WHERE held = 1;

-- migration 6
-- Webhooks (issue 13). A hook belongs to one integration and asks for some
-- event types (`events`: a JSON array of patterns such as "user.*" or "*").
-- `secret` is the signing key as base64 (shown once as `whsec_<secret>`).
-- Every statement is IF NOT EXISTS, so re-running this section (a restore of
-- a copy whose version was set back) is harmless.
CREATE TABLE IF NOT EXISTS webhook (
    id             TEXT PRIMARY KEY,
    integration_id TEXT NOT NULL REFERENCES integration(id) ON DELETE CASCADE,
    url            TEXT NOT NULL,
    secret         TEXT NOT NULL,
    events         TEXT NOT NULL,
    include_pin    INTEGER NOT NULL DEFAULT 0,
    ca_pem         TEXT,
    created        TEXT NOT NULL,
    enabled        INTEGER NOT NULL DEFAULT 1
);
-- Every change asks this index whether its integration has hooks: with none,
-- the outbox costs one index probe.
CREATE INDEX IF NOT EXISTS webhook_by_integration ON webhook(integration_id);
-- One row per (event, hook), written in the event's transaction. `payload`
-- is the exact body POSTed, so retries send the same bytes. `seq` orders a
-- hook's deliveries; a pending row of a (hook, resource) holds back every
-- later one of the same pair.
CREATE TABLE IF NOT EXISTS webhook_delivery (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    id            TEXT NOT NULL UNIQUE,
    webhook_id    TEXT NOT NULL REFERENCES webhook(id) ON DELETE CASCADE,
    event_seq     INTEGER,
    event_type    TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    payload       TEXT NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_attempt  TEXT NOT NULL,
    last_status   INTEGER,
    last_error    TEXT,
    state         TEXT NOT NULL DEFAULT 'pending'
                  CHECK (state IN ('pending', 'delivered', 'failed')),
    created       TEXT NOT NULL
);
-- What the delivery task asks every tick: the due pending rows (a range of
-- this index, so rows backing off and delivered history are never read),
-- and whether an earlier pending row of the same (hook, resource) exists.
CREATE INDEX IF NOT EXISTS webhook_delivery_due ON webhook_delivery(next_attempt, seq) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS webhook_delivery_pair ON webhook_delivery(webhook_id, resource_id, seq) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS webhook_delivery_by_hook ON webhook_delivery(webhook_id, seq);

-- migration 7
-- Every statement is IF NOT EXISTS: running the section twice (a restored
-- backup whose user_version was behind its tables) changes nothing.
-- Push status and the request log (issue 13), written by the server in
-- batches (every 2 s), never once per request.
-- One row per integration: what the IdP did last.
CREATE TABLE IF NOT EXISTS push_status (
    integration_id TEXT PRIMARY KEY REFERENCES integration(id) ON DELETE CASCADE,
    last_request   TEXT,                  -- time of the last authenticated SCIM request
    last_change    TEXT,                  -- time of the last write request that succeeded
    user_agent     TEXT,                  -- raw User-Agent of the last request (capped)
    idp            TEXT                   -- IdP detected from it ('okta', 'entra', …), NULL if unknown
) WITHOUT ROWID;

-- The last errors answered to an integration's IdP; pruned to 20 each.
CREATE TABLE IF NOT EXISTS push_error (
    seq            INTEGER PRIMARY KEY,
    integration_id TEXT NOT NULL REFERENCES integration(id) ON DELETE CASCADE,
    time           TEXT NOT NULL,
    request_id     TEXT NOT NULL,
    method         TEXT NOT NULL,
    path           TEXT NOT NULL,
    status         INTEGER NOT NULL,
    scim_type      TEXT,
    detail         TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS push_error_by_integration ON push_error(integration_id, seq);

-- The last SCIM requests of each integration (`serve --request-log N`,
-- default 1000), bodies redacted and capped at 64 KiB.
CREATE TABLE IF NOT EXISTS request_log (
    seq             INTEGER PRIMARY KEY,
    integration_id  TEXT NOT NULL REFERENCES integration(id) ON DELETE CASCADE,
    time            TEXT NOT NULL,
    request_id      TEXT NOT NULL,
    method          TEXT NOT NULL,
    path            TEXT NOT NULL,        -- path and query, secret parameters redacted
    status          INTEGER NOT NULL,
    latency_ms      REAL NOT NULL,
    quirks          TEXT NOT NULL DEFAULT '[]', -- JSON array of the IdP dialects accepted
    request_headers TEXT NOT NULL DEFAULT '{}', -- JSON object, credentials redacted
    request_body    TEXT NOT NULL DEFAULT '',
    response_body   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS request_log_by_integration ON request_log(integration_id, seq);

-- Read-only views for local applications that open the file directly: the
-- stable interface (documented in the README); tables may change, these
-- columns do not. Only live records: deprovisioned users are left out.
CREATE VIEW IF NOT EXISTS v_users AS
    SELECT integration_id, id, user_name, external_id, display_name,
           primary_email AS email, active, entitled, held, roles, pin,
           created, last_modified
    FROM scim_user
    WHERE deprovisioned IS NULL;

CREATE VIEW IF NOT EXISTS v_groups AS
    SELECT integration_id, id, display_name, external_id, created, last_modified
    FROM scim_group;

-- One row per direct membership; member_type is 'User' or 'Group'.
CREATE VIEW IF NOT EXISTS v_memberships AS
    SELECT g.integration_id, g.id AS group_id, g.display_name AS group_display_name,
           'User' AS member_type, u.id AS member_id, u.user_name AS member_name
    FROM membership m
    JOIN scim_group g ON g.seq = m.group_seq
    JOIN scim_user u ON u.seq = m.member_user_seq
    WHERE u.deprovisioned IS NULL
    UNION ALL
    SELECT g.integration_id, g.id, g.display_name, 'Group', c.id, c.display_name
    FROM membership m
    JOIN scim_group g ON g.seq = m.group_seq
    JOIN scim_group c ON c.seq = m.member_group_seq;

-- One row per (entitled user, role). An entitled user without any role
-- (possible when the integration does not require a mapping) gives one row
-- with role NULL, so every entitled user appears at least once. Held users
-- (breaker) are entitled and marked held = 1.
CREATE VIEW IF NOT EXISTS v_entitlements AS
    SELECT u.integration_id, u.id AS user_id, u.user_name, u.primary_email AS email,
           u.display_name, r.value AS role, u.pin, u.held
    FROM scim_user u
    LEFT JOIN json_each(u.roles) r
    WHERE u.entitled = 1 AND u.deprovisioned IS NULL;

-- migration 8
-- The identity provider an admin configured for each integration (issue 14):
-- it picks the setup guide (`scimd integration guide`) and is compared with
-- the IdP recognised from traffic. One of the CLI names of `scim::idp::Idp`;
-- existing integrations are `generic` until an admin says otherwise.
ALTER TABLE integration ADD COLUMN idp TEXT NOT NULL DEFAULT 'generic';

-- migration 9
-- Deep startIndex paging (issue 15) seeks from remembered page boundaries
-- instead of skipping rows with OFFSET. A boundary is only valid for the
-- exact data it was read from, so each integration has a generation that
-- every change to what its searches see (users, groups, memberships) bumps,
-- in the change's own transaction. Triggers, so no write path (the server,
-- the CLI, another process) can forget it; a reader compares the generation
-- it reads in its own snapshot with the one the boundary was taken at.
-- Safe to run twice (a restore re-runs the newest migration of a backup).
CREATE TABLE IF NOT EXISTS search_generation (
    integration_id TEXT PRIMARY KEY REFERENCES integration(id) ON DELETE CASCADE,
    gen            INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
INSERT OR IGNORE INTO search_generation(integration_id) SELECT id FROM integration;
CREATE TRIGGER IF NOT EXISTS search_generation_new_integration AFTER INSERT ON integration BEGIN
    INSERT OR IGNORE INTO search_generation(integration_id) VALUES (NEW.id);
END;
CREATE TRIGGER IF NOT EXISTS search_generation_user_insert AFTER INSERT ON scim_user BEGIN
    UPDATE search_generation SET gen = gen + 1 WHERE integration_id = NEW.integration_id;
END;
CREATE TRIGGER IF NOT EXISTS search_generation_user_update AFTER UPDATE ON scim_user BEGIN
    UPDATE search_generation SET gen = gen + 1 WHERE integration_id = NEW.integration_id;
END;
CREATE TRIGGER IF NOT EXISTS search_generation_user_delete AFTER DELETE ON scim_user BEGIN
    UPDATE search_generation SET gen = gen + 1 WHERE integration_id = OLD.integration_id;
END;
CREATE TRIGGER IF NOT EXISTS search_generation_group_insert AFTER INSERT ON scim_group BEGIN
    UPDATE search_generation SET gen = gen + 1 WHERE integration_id = NEW.integration_id;
END;
CREATE TRIGGER IF NOT EXISTS search_generation_group_update AFTER UPDATE ON scim_group BEGIN
    UPDATE search_generation SET gen = gen + 1 WHERE integration_id = NEW.integration_id;
END;
CREATE TRIGGER IF NOT EXISTS search_generation_group_delete AFTER DELETE ON scim_group BEGIN
    UPDATE search_generation SET gen = gen + 1 WHERE integration_id = OLD.integration_id;
END;
CREATE TRIGGER IF NOT EXISTS search_generation_member_insert AFTER INSERT ON membership BEGIN
    UPDATE search_generation SET gen = gen + 1
        WHERE integration_id = (SELECT integration_id FROM scim_group WHERE seq = NEW.group_seq);
END;
CREATE TRIGGER IF NOT EXISTS search_generation_member_delete AFTER DELETE ON membership BEGIN
    UPDATE search_generation SET gen = gen + 1
        WHERE integration_id = (SELECT integration_id FROM scim_group WHERE seq = OLD.group_seq);
END;
