/// Versioned migrations for the PostgreSQL store, mirroring `SQLiteSchema` table for table and
/// column for column so both backends pass one conformance suite. Never edit a released migration:
/// append a new one.
///
/// Each migration is a list of single statements because postgres-nio speaks the extended query
/// protocol, which refuses several commands in one query.
///
/// Ids are `BIGINT` holding the bit pattern of the unsigned Roost id; timestamps are `BIGINT`
/// milliseconds since 1970, as on SQLite, so values round-trip identically on both backends.
/// Unique constraints carry explicit names because `PostgresStore.createUser` maps a violation to
/// the offending field by constraint name.
enum PostgresSchema {
    struct Migration {
        var version: Int
        var statements: [String]
    }

    /// Named so `createUser` can tell which field a unique violation is about.
    static let usernameConstraint = "users_username_lower_key"
    static let emailConstraint = "users_email_lower_key"

    static let migrations: [Migration] = core + [notifications, safety, pullAuthors, nodeNumbers, engagedPosts]

    /// The posts anyone engaged with, the only trending candidates (`SQLiteSchema.engagedPosts`).
    static let engagedPosts = Migration(version: 8, statements: [SQLiteSchema.engagedPostsIndex])

    /// Which node holds which id node number (`IDGenerator`), leased so a crashed node's number
    /// comes free. PostgreSQL only: on SQLite one process is the only node.
    static let nodeNumbers = Migration(
        version: 7,
        statements: [
            "CREATE TABLE IF NOT EXISTS node_numbers (number INTEGER PRIMARY KEY, holder TEXT NOT NULL, expires_at BIGINT NOT NULL)"
        ])

    /// The accounts whose posts are pulled at read time, found without scanning `users`: a home
    /// read probes each of them rather than each account the viewer follows when they are fewer
    /// (`HomeSliceStatement`).
    static let pullAuthors = Migration(
        version: 6, statements: ["CREATE INDEX IF NOT EXISTS users_pull_authors ON users (id) WHERE has_pull_posts"])

    static let core: [Migration] = [
        Migration(
            version: 1,
            statements: [
                // Column order puts the primary key's index before the username index and that before
                // the email index: PostgreSQL checks unique indexes in creation order, so a new user
                // whose username and email are both taken is reported as a username conflict, as on SQLite.
                """
                CREATE TABLE users (
                  id BIGINT PRIMARY KEY,
                  username TEXT NOT NULL,
                  username_lower TEXT NOT NULL CONSTRAINT \(usernameConstraint) UNIQUE,
                  email TEXT NOT NULL,
                  email_lower TEXT NOT NULL CONSTRAINT \(emailConstraint) UNIQUE,
                  display_name TEXT NOT NULL,
                  bio TEXT NOT NULL DEFAULT '',
                  avatar_url TEXT,
                  verified BOOLEAN NOT NULL DEFAULT FALSE,
                  is_moderator BOOLEAN NOT NULL DEFAULT FALSE,
                  password_hash TEXT,
                  followers_count BIGINT NOT NULL DEFAULT 0,
                  following_count BIGINT NOT NULL DEFAULT 0,
                  posts_count BIGINT NOT NULL DEFAULT 0,
                  created_at BIGINT NOT NULL
                )
                """,
                """
                CREATE TABLE refresh_tokens (
                  token_hash TEXT PRIMARY KEY,
                  family_id TEXT NOT NULL,
                  user_id BIGINT NOT NULL,
                  expires_at BIGINT NOT NULL,
                  used_at BIGINT,
                  revoked_at BIGINT
                )
                """,
                "CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id)",
                """
                CREATE TABLE follows (
                  follower_id BIGINT NOT NULL,
                  followee_id BIGINT NOT NULL,
                  id BIGINT NOT NULL,
                  created_at BIGINT NOT NULL,
                  PRIMARY KEY (follower_id, followee_id)
                )
                """,
                BulkLoad.followsFollowee.create,
                BulkLoad.followsFollower.create,
                """
                CREATE TABLE posts (
                  id BIGINT PRIMARY KEY,
                  author_id BIGINT NOT NULL,
                  text TEXT NOT NULL,
                  title TEXT,
                  description TEXT,
                  tags TEXT NOT NULL DEFAULT '[]',
                  media TEXT NOT NULL DEFAULT '[]',
                  asset_type TEXT,
                  visibility TEXT NOT NULL,
                  organization_id BIGINT,
                  inspired_by_post_id BIGINT,
                  like_count BIGINT NOT NULL DEFAULT 0,
                  comment_count BIGINT NOT NULL DEFAULT 0,
                  share_count BIGINT NOT NULL DEFAULT 0,
                  view_count BIGINT NOT NULL DEFAULT 0,
                  is_featured BOOLEAN NOT NULL DEFAULT FALSE,
                  moderation_status TEXT NOT NULL,
                  created_at BIGINT NOT NULL,
                  updated_at BIGINT NOT NULL
                )
                """,
                BulkLoad.postsAuthor.create,
                // The public timeline reads only this slice; queries repeat the predicate literally so
                // the planner can match the partial index.
                "CREATE INDEX posts_public ON posts (id) WHERE visibility = 'public' AND moderation_status = 'approved'",
                """
                CREATE TABLE post_tags (
                  tag TEXT NOT NULL,
                  post_id BIGINT NOT NULL,
                  PRIMARY KEY (tag, post_id)
                )
                """,
                "CREATE INDEX post_tags_post ON post_tags (post_id)",
                """
                CREATE TABLE likes (
                  post_id BIGINT NOT NULL,
                  user_id BIGINT NOT NULL,
                  created_at BIGINT NOT NULL,
                  PRIMARY KEY (post_id, user_id)
                )
                """,
                "CREATE INDEX likes_user ON likes (user_id, post_id)",
                """
                CREATE TABLE shares (
                  post_id BIGINT NOT NULL,
                  user_id BIGINT NOT NULL,
                  created_at BIGINT NOT NULL,
                  PRIMARY KEY (post_id, user_id)
                )
                """,
                "CREATE INDEX shares_user ON shares (user_id, post_id)",
                """
                CREATE TABLE post_views (
                  post_id BIGINT NOT NULL,
                  viewer_key TEXT NOT NULL,
                  viewed_at BIGINT NOT NULL,
                  PRIMARY KEY (post_id, viewer_key)
                )
                """,
                """
                CREATE TABLE comments (
                  id BIGINT PRIMARY KEY,
                  post_id BIGINT NOT NULL,
                  parent_id BIGINT,
                  author_id BIGINT NOT NULL,
                  text TEXT NOT NULL,
                  like_count BIGINT NOT NULL DEFAULT 0,
                  created_at BIGINT NOT NULL
                )
                """,
                "CREATE INDEX comments_post ON comments (post_id, id)",
                "CREATE INDEX comments_parent ON comments (parent_id)",
                """
                CREATE TABLE idempotency_keys (
                  user_id BIGINT NOT NULL,
                  scope TEXT NOT NULL,
                  key TEXT NOT NULL,
                  resource_id BIGINT NOT NULL,
                  status INTEGER,
                  body BYTEA,
                  created_at BIGINT NOT NULL,
                  PRIMARY KEY (user_id, scope, key)
                )
                """,
            ]),
        Migration(
            version: 2,
            statements: [
                "ALTER TABLE users ADD COLUMN home_active_until BIGINT NOT NULL DEFAULT 0",
                "ALTER TABLE users ADD COLUMN timeline_floor BIGINT NOT NULL DEFAULT 0",
                "ALTER TABLE users ADD COLUMN has_pull_posts BOOLEAN NOT NULL DEFAULT FALSE",
                "ALTER TABLE posts ADD COLUMN pull_only BOOLEAN NOT NULL DEFAULT FALSE",
                // Queries say `p.pull_only` (not `= TRUE`) to match this predicate.
                "CREATE INDEX posts_pull_only ON posts (author_id, id) WHERE pull_only",
                BulkLoad.followsFanout.create,
                """
                CREATE TABLE timeline_entries (
                  user_id BIGINT NOT NULL,
                  post_id BIGINT NOT NULL,
                  author_id BIGINT NOT NULL,
                  PRIMARY KEY (user_id, post_id)
                )
                """,
                // Job ids come from the database (SQLite's rowid there), not from the id generator.
                """
                CREATE TABLE fanout_jobs (
                  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                  kind TEXT NOT NULL,
                  post_id BIGINT NOT NULL,
                  author_id BIGINT NOT NULL,
                  position BIGINT NOT NULL DEFAULT 0,
                  attempts INTEGER NOT NULL DEFAULT 0,
                  available_at BIGINT NOT NULL,
                  locked_until BIGINT NOT NULL DEFAULT 0,
                  created_at BIGINT NOT NULL
                )
                """,
                "CREATE INDEX fanout_jobs_due ON fanout_jobs (available_at, id)",
                """
                CREATE TABLE ranked_snapshots (
                  id BIGINT PRIMARY KEY,
                  scope TEXT NOT NULL,
                  created_at BIGINT NOT NULL,
                  entries BYTEA NOT NULL
                )
                """,
                "CREATE INDEX ranked_snapshots_created ON ranked_snapshots (created_at)",
                "CREATE INDEX likes_user_time ON likes (user_id, created_at)",
                "CREATE INDEX comments_author_time ON comments (author_id, created_at)",
            ]),
    ]
}
