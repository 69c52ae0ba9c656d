-- The large tiers' seed (bench/run --rows N): N activities over :users people
-- and :days days, written by set-based SQL in a few statements instead of N
-- service calls. The same arguments on the same UTC day give the same rows:
-- every value is a function of the row number, and times end at midnight UTC
-- of the day the seed runs.
--
-- Step 2 of 3: the rows numbered :lo to :hi of :rows, so that bench/run
-- writes them from several sessions at once, after before.sql and before
-- after.sql:
--   psql -v lo=1 -v hi=5000000 -v rows=10000000 -v users=1000 -v days=60 -f bench/seed/rows.sql DB
--
-- The rows look like the service's seed (src/service/seed.rs): the same 40
-- actions with their module and resource type, modes weighted 70/20/6/4,
-- every row with an actor, a resource, and a target for a third of them.
-- Metadata is {} (the metadata filters are not what the large tiers measure;
-- an empty document keeps the two GIN indexes' build short).
\set ON_ERROR_STOP on

CREATE TEMP TABLE seed_actions (n int PRIMARY KEY, action text, module text, resource_type text);
INSERT INTO seed_actions VALUES
  (0, 'post.created', 'posts', 'post'), (1, 'post.updated', 'posts', 'post'),
  (2, 'post.deleted', 'posts', 'post'), (3, 'post.published', 'posts', 'post'),
  (4, 'post.liked', 'posts', 'post'), (5, 'post.shared', 'posts', 'post'),
  (6, 'post.comment.added', 'posts', 'post'), (7, 'comment.created', 'comments', 'comment'),
  (8, 'comment.updated', 'comments', 'comment'), (9, 'comment.deleted', 'comments', 'comment'),
  (10, 'comment.liked', 'comments', 'comment'), (11, 'comment.reported', 'comments', 'comment'),
  (12, 'user.registered', 'users', 'user'), (13, 'user.logged_in', 'auth', 'user'),
  (14, 'user.logged_out', 'auth', 'user'), (15, 'user.updated', 'users', 'user'),
  (16, 'user.followed', 'social', 'user'), (17, 'user.unfollowed', 'social', 'user'),
  (18, 'user.deleted', 'users', 'user'), (19, 'password.changed', 'auth', 'user'),
  (20, 'password.reset_requested', 'auth', 'user'), (21, 'email.changed', 'users', 'user'),
  (22, 'profile.updated', 'users', 'user'), (23, 'avatar.changed', 'users', 'user'),
  (24, 'role.assigned', 'admin', 'user'), (25, 'role.revoked', 'admin', 'user'),
  (26, 'team.created', 'teams', 'team'), (27, 'team.member.added', 'teams', 'team'),
  (28, 'team.member.removed', 'teams', 'team'), (29, 'team.updated', 'teams', 'team'),
  (30, 'invoice.created', 'billing', 'invoice'), (31, 'invoice.paid', 'billing', 'invoice'),
  (32, 'payment.failed', 'billing', 'invoice'), (33, 'subscription.changed', 'billing', 'subscription'),
  (34, 'subscription.cancelled', 'billing', 'subscription'), (35, 'file.uploaded', 'files', 'file'),
  (36, 'file.deleted', 'files', 'file'), (37, 'export.created', 'reports', 'report'),
  (38, 'settings.changed', 'admin', 'settings'), (39, 'api_key.created', 'admin', 'api_key');

-- A deterministic uuid per (kind, number): md5 of text.
CREATE FUNCTION pg_temp.seed_uuid(kind text, n bigint) RETURNS uuid
  LANGUAGE sql IMMUTABLE AS $$ SELECT md5(kind || n::text)::uuid $$;
-- A deterministic number in [0, m) per (salt, number): hash spread, not a sequence.
CREATE FUNCTION pg_temp.seed_pick(salt int, n bigint, m int) RETURNS int
  LANGUAGE sql IMMUTABLE AS $$ SELECT ((hashint8(n * 31 + salt)::bigint & 2147483647) % m)::int $$;

-- Rows in time order, evenly spread over the span, each with a time-ordered
-- uuid (like uuid v7: the time's milliseconds first) so the primary key is
-- appended to, not written all over.
INSERT INTO activities (uuid, action, module, mode, actor_uuid, resource_type, resource_uuid,
                        target_uuid, metadata, inserted_at)
SELECT (lpad(to_hex((extract(epoch FROM t.at) * 1000)::bigint), 12, '0') || '7'
        || lpad(to_hex(i % 4096), 3, '0') || '8' || lpad(to_hex(i), 15, '0'))::uuid,
       a.action, a.module,
       CASE WHEN t.m < 70 THEN 'manual' WHEN t.m < 90 THEN 'auto' WHEN t.m < 96 THEN 'cron' ELSE 'script' END,
       pg_temp.seed_uuid('user', 1 + t.actor),
       a.resource_type,
       CASE WHEN a.resource_type = 'user' THEN pg_temp.seed_uuid('user', 1 + t.other)
            ELSE pg_temp.seed_uuid('resource', i) END,
       CASE WHEN a.resource_type = 'user' OR i % 3 = 0 THEN pg_temp.seed_uuid('user', 1 + t.other) END,
       '{}'::jsonb,
       t.at
FROM generate_series(:lo, :hi) AS i
CROSS JOIN LATERAL (
  SELECT date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
         - make_interval(days => :days)
         + make_interval(secs => (i - 1) * (:days * 86400.0 / :rows)) AS at,
         pg_temp.seed_pick(1, i, 40) AS action_n,
         pg_temp.seed_pick(2, i, 100) AS m,
         pg_temp.seed_pick(3, i, :users) AS actor,
         pg_temp.seed_pick(4, i, :users) AS other
) AS t
JOIN seed_actions AS a ON a.n = t.action_n;

