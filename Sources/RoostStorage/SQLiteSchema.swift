/// Versioned migrations for the SQLite store. Never edit a released migration: append a new one.
/// Timestamps are integer milliseconds since 1970; ids are signed 64-bit integers.
enum SQLiteSchema {
    struct Migration {
        var version: Int
        var sql: String
    }

    static let migrations: [Migration] = core + [notifications, safety, searchQueue, timelines, engagedPosts]

    /// Version 7: the posts anyone engaged with, the only trending candidates. The refresh read
    /// every public post of the window to find them (`posts_public`): on the default bench graph
    /// the 7-day window walked 233,539 rows every maintenance round (130 ms in `sqlite3`), a
    /// burst of one core now and then under the read load. Engagement updates keep the index.
    static let engagedPosts = Migration(version: 7, sql: "\(engagedPostsIndex);")

    /// Shared with PostgreSQL: the trending query repeats this predicate word for word, so both
    /// planners can match it to the index.
    static let engagedPostsIndex = """
        CREATE INDEX IF NOT EXISTS posts_engaged ON posts (id)
          WHERE visibility = 'public' AND moderation_status = 'approved' AND (like_count > 0 OR comment_count > 0 OR view_count > 0)
        """

    /// Version 6: each home timeline's state (how long fan-out maintains it, and its floor) in a
    /// table of its own, holding only users who ever read a home feed. Fan-out looks up every
    /// follower there: in this small table, not in the wide `users` rows, where it cost most of a
    /// batch's join (`sqlite3`, default bench graph, 14,936 followers: 3–6 ms against 9–14 ms; the
    /// whole insert of 30,000 entries 99–105 ms against 116–126 ms). No row: floor 0, inactive.
    /// `users.home_active_until` and `users.timeline_floor` (version 2) are no longer used.
    static let timelines = Migration(
        version: 6,
        sql: """
            CREATE TABLE timelines (
              user_id INTEGER PRIMARY KEY,
              active_until INTEGER NOT NULL,
              floor INTEGER NOT NULL
            ) WITHOUT ROWID;
            INSERT INTO timelines (user_id, active_until, floor)
              SELECT id, home_active_until, timeline_floor FROM users WHERE home_active_until > 0 OR timeline_floor > 0;
            """)

    static let core: [Migration] = [
        Migration(
            version: 1,
            sql: """
                CREATE TABLE users (
                  id INTEGER PRIMARY KEY,
                  username TEXT NOT NULL,
                  username_lower TEXT NOT NULL UNIQUE,
                  email TEXT NOT NULL,
                  email_lower TEXT NOT NULL UNIQUE,
                  display_name TEXT NOT NULL,
                  bio TEXT NOT NULL DEFAULT '',
                  avatar_url TEXT,
                  verified INTEGER NOT NULL DEFAULT 0,
                  is_moderator INTEGER NOT NULL DEFAULT 0,
                  password_hash TEXT,
                  followers_count INTEGER NOT NULL DEFAULT 0,
                  following_count INTEGER NOT NULL DEFAULT 0,
                  posts_count INTEGER NOT NULL DEFAULT 0,
                  created_at INTEGER NOT NULL
                );
                CREATE TABLE refresh_tokens (
                  token_hash TEXT PRIMARY KEY,
                  family_id TEXT NOT NULL,
                  user_id INTEGER NOT NULL,
                  expires_at INTEGER NOT NULL,
                  used_at INTEGER,
                  revoked_at INTEGER
                );
                CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
                CREATE TABLE follows (
                  follower_id INTEGER NOT NULL,
                  followee_id INTEGER NOT NULL,
                  id INTEGER NOT NULL,
                  created_at INTEGER NOT NULL,
                  PRIMARY KEY (follower_id, followee_id)
                ) WITHOUT ROWID;
                \(BulkLoad.followsFollowee.create);
                \(BulkLoad.followsFollower.create);
                CREATE TABLE posts (
                  id INTEGER PRIMARY KEY,
                  author_id INTEGER NOT NULL,
                  text TEXT NOT NULL,
                  title TEXT,
                  description TEXT,
                  tags TEXT NOT NULL DEFAULT '[]',
                  media TEXT NOT NULL DEFAULT '[]',
                  asset_type TEXT,
                  visibility TEXT NOT NULL,
                  organization_id INTEGER,
                  inspired_by_post_id INTEGER,
                  like_count INTEGER NOT NULL DEFAULT 0,
                  comment_count INTEGER NOT NULL DEFAULT 0,
                  share_count INTEGER NOT NULL DEFAULT 0,
                  view_count INTEGER NOT NULL DEFAULT 0,
                  is_featured INTEGER NOT NULL DEFAULT 0,
                  moderation_status TEXT NOT NULL,
                  created_at INTEGER NOT NULL,
                  updated_at INTEGER NOT NULL
                );
                \(BulkLoad.postsAuthor.create);
                CREATE INDEX posts_public ON posts (id) WHERE visibility = 'public' AND moderation_status = 'approved';
                CREATE TABLE post_tags (
                  tag TEXT NOT NULL,
                  post_id INTEGER NOT NULL,
                  PRIMARY KEY (tag, post_id)
                ) WITHOUT ROWID;
                CREATE INDEX post_tags_post ON post_tags (post_id);
                CREATE TABLE likes (
                  post_id INTEGER NOT NULL,
                  user_id INTEGER NOT NULL,
                  created_at INTEGER NOT NULL,
                  PRIMARY KEY (post_id, user_id)
                ) WITHOUT ROWID;
                CREATE INDEX likes_user ON likes (user_id, post_id);
                CREATE TABLE shares (
                  post_id INTEGER NOT NULL,
                  user_id INTEGER NOT NULL,
                  created_at INTEGER NOT NULL,
                  PRIMARY KEY (post_id, user_id)
                ) WITHOUT ROWID;
                CREATE INDEX shares_user ON shares (user_id, post_id);
                CREATE TABLE post_views (
                  post_id INTEGER NOT NULL,
                  viewer_key TEXT NOT NULL,
                  viewed_at INTEGER NOT NULL,
                  PRIMARY KEY (post_id, viewer_key)
                ) WITHOUT ROWID;
                CREATE TABLE comments (
                  id INTEGER PRIMARY KEY,
                  post_id INTEGER NOT NULL,
                  parent_id INTEGER,
                  author_id INTEGER NOT NULL,
                  text TEXT NOT NULL,
                  like_count INTEGER NOT NULL DEFAULT 0,
                  created_at INTEGER NOT NULL
                );
                CREATE INDEX comments_post ON comments (post_id, id);
                CREATE INDEX comments_parent ON comments (parent_id);
                CREATE TABLE idempotency_keys (
                  user_id INTEGER NOT NULL,
                  scope TEXT NOT NULL,
                  key TEXT NOT NULL,
                  resource_id INTEGER NOT NULL,
                  status INTEGER,
                  body BLOB,
                  created_at INTEGER NOT NULL,
                  PRIMARY KEY (user_id, scope, key)
                ) WITHOUT ROWID;
                """)
,
        Migration(
            version: 2,
            sql: """
                ALTER TABLE users ADD COLUMN home_active_until INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE users ADD COLUMN timeline_floor INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE users ADD COLUMN has_pull_posts INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE posts ADD COLUMN pull_only INTEGER NOT NULL DEFAULT 0;
                CREATE INDEX posts_pull_only ON posts (author_id, id) WHERE pull_only = 1;
                \(BulkLoad.followsFanout.create);
                CREATE TABLE timeline_entries (
                  user_id INTEGER NOT NULL,
                  post_id INTEGER NOT NULL,
                  author_id INTEGER NOT NULL,
                  PRIMARY KEY (user_id, post_id)
                ) WITHOUT ROWID;
                CREATE TABLE fanout_jobs (
                  id INTEGER PRIMARY KEY,
                  kind TEXT NOT NULL,
                  post_id INTEGER NOT NULL,
                  author_id INTEGER NOT NULL,
                  position INTEGER NOT NULL DEFAULT 0,
                  attempts INTEGER NOT NULL DEFAULT 0,
                  available_at INTEGER NOT NULL,
                  locked_until INTEGER NOT NULL DEFAULT 0,
                  created_at INTEGER NOT NULL
                );
                CREATE INDEX fanout_jobs_due ON fanout_jobs (available_at, id);
                CREATE TABLE ranked_snapshots (
                  id INTEGER PRIMARY KEY,
                  scope TEXT NOT NULL,
                  created_at INTEGER NOT NULL,
                  entries BLOB NOT NULL
                );
                CREATE INDEX ranked_snapshots_created ON ranked_snapshots (created_at);
                CREATE INDEX likes_user_time ON likes (user_id, created_at);
                CREATE INDEX comments_author_time ON comments (author_id, created_at);
                """),
    ]
}
