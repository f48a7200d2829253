import Foundation
import RoostCore

/// A member in an organization's member list.
public struct ListedMember: Sendable, Equatable {
    public var membership: Membership
    public var user: User

    public init(membership: Membership, user: User) {
        self.membership = membership
        self.user = user
    }
}

/// Storage of organizations and memberships, moderation (reports, decisions, audit trail) and
/// search. Implemented by `SQLiteStore+Safety.swift` and `PostgresStore+Safety.swift`.
///
/// Nothing here decides who may see what: the stores return candidates and the callers apply
/// `PostVisibilityRule`, the one visibility rule.
public protocol SafetyStore: Sendable {
    // MARK: Organizations

    /// Inserts the organization with its creator as first admin (membership `membershipID`), in
    /// one transaction. The returned organization counts that member.
    func createOrganization(_ organization: Organization, membershipID: ID) async throws -> Organization
    func organization(id: ID) async throws -> Organization?
    /// The organization followed by its ancestors (parent, grandparent, …); empty when unknown.
    func organizationAncestry(id: ID) async throws -> [ID]
    /// The user's direct roles among the given organizations.
    func roles(userID: ID, organizationIDs: [ID]) async throws -> [ID: OrganizationRole]
    /// Every organization the user effectively belongs to: those they are a direct member of and
    /// all their ancestors (a department's members belong to its university). Unordered.
    func organizationIDs(memberID: ID) async throws -> [ID]
    /// The user's direct memberships with their organizations, newest membership first.
    func memberships(userID: ID) async throws -> [(organization: Organization, membership: Membership)]
    /// Adds the member or changes their role (keeping the original membership id and date).
    /// Throws `conflict` when this would leave the organization without a direct admin, and
    /// `notFound` when the organization does not exist.
    func setMembership(_ membership: Membership) async throws -> (membership: Membership, isNew: Bool)
    /// Removes a direct membership; false when there was none. Throws `conflict` for the last admin.
    func removeMembership(organizationID: ID, userID: ID) async throws -> Bool
    /// Direct members, newest first, `membership id < before`.
    func members(organizationID: ID, before: ID?, limit: Int) async throws -> [ListedMember]
    /// Which of `userIDs` effectively belong to the organization (directly or through a
    /// sub-organization): the members among, say, a node's stream listeners.
    func organizationMemberIDs(organizationID: ID, among userIDs: [ID]) async throws -> [ID]
    /// Ids of posts attached to any of these organizations (any visibility or status), newest
    /// first, `id < before`: the organization part of a home feed.
    func organizationPostIDs(organizationIDs: [ID], before: ID?, limit: Int) async throws -> [ID]
    /// One organization's posts, newest first, `id < before`, any visibility or status.
    func organizationPosts(organizationID: ID, before: ID?, limit: Int, filter: FeedFilter) async throws -> [Post]

    // MARK: Moderation

    /// Files a report; a reporter's second open report on the same target returns the first.
    func fileReport(_ report: Report) async throws -> ReportFiling
    /// Applies a decision about a post: sets its status to `decision.action`'s, records the
    /// decision with the status it replaced, and closes the post's open reports when the action
    /// settles them — all in one transaction. nil when the post does not exist.
    func moderatePost(_ decision: ModerationDecision) async throws -> (post: Post, decision: ModerationDecision)?
    /// Records a decision that changes no post status (a new post's automatic verdict, a verdict on
    /// a comment or account) and closes the target's open reports as the action says. Returns how
    /// many reports it closed.
    @discardableResult
    func recordDecision(_ decision: ModerationDecision) async throws -> Int
    /// Held posts and targets with open reports, oldest first, `position > after`.
    func moderationQueue(after: ID?, limit: Int) async throws -> [ModerationQueueEntry]
    /// The newest `perTarget` open reports of each target.
    func openReports(targets: [ModerationTarget], perTarget: Int) async throws -> [Report]
    /// The audit trail, newest first, `id < before`; all targets when `target` is nil.
    func moderationDecisions(target: ModerationTarget?, before: ID?, limit: Int) async throws -> [ModerationDecision]

    // MARK: Search

    /// Posts matching every term (the last also as a prefix), best first; any visibility or
    /// status. An empty query finds nothing.
    func searchPosts(_ query: SearchQuery, offset: Int, limit: Int) async throws -> [SearchHit]
    /// Users by username and display name, best first.
    func searchUsers(_ query: SearchQuery, offset: Int, limit: Int) async throws -> [SearchHit]
}

extension ModerationAction {
    /// The post status the action sets; nil when it leaves the status alone.
    public var postStatus: ModerationStatus? {
        switch self {
        case .approve: .approved
        case .remove: .removed
        case .hold: .pending
        case .dismiss: nil
        }
    }

    /// How the action closes the target's open reports; nil leaves them open (a hold waits for a moderator).
    public var closesReports: ReportStatus? {
        switch self {
        case .approve, .remove: .resolved
        case .dismiss: .dismissed
        case .hold: nil
        }
    }
}

// MARK: - Migrations

extension SQLiteSchema {
    /// The triggers migration 4 wrote to index posts inside every post write; migration 5
    /// replaced them with `postsSearchTriggers` (see `SQLiteStore.indexSearchQueue`).
    static let postsFTSTriggerNamesV4 = ["posts_fts_insert", "posts_fts_delete", "posts_fts_update"]
    static let postsFTSTriggersV4 = """
        CREATE TRIGGER posts_fts_insert AFTER INSERT ON posts BEGIN
          INSERT INTO posts_fts (rowid, title, text, description, tags) VALUES (new.id, new.title, new.text, new.description, new.tags);
        END;
        CREATE TRIGGER posts_fts_delete AFTER DELETE ON posts BEGIN
          INSERT INTO posts_fts (posts_fts, rowid, title, text, description, tags)
          VALUES ('delete', old.id, old.title, old.text, old.description, old.tags);
        END;
        CREATE TRIGGER posts_fts_update AFTER UPDATE OF title, text, description, tags ON posts BEGIN
          INSERT INTO posts_fts (posts_fts, rowid, title, text, description, tags)
          VALUES ('delete', old.id, old.title, old.text, old.description, old.tags);
          INSERT INTO posts_fts (rowid, title, text, description, tags) VALUES (new.id, new.title, new.text, new.description, new.tags);
        END;
        """

    /// Version 4: organizations and memberships, reports and the moderation audit trail, and
    /// full-text search (FTS5 tables over posts and users, kept current by triggers, so every
    /// write path — including imports — indexes without knowing about search).
    static let safety = Migration(
        version: 4,
        sql: """
            CREATE TABLE organizations (
              id INTEGER PRIMARY KEY,
              name TEXT NOT NULL,
              kind TEXT NOT NULL,
              parent_id INTEGER,
              created_by INTEGER NOT NULL,
              member_count INTEGER NOT NULL DEFAULT 0,
              created_at INTEGER NOT NULL
            );
            CREATE INDEX organizations_parent ON organizations (parent_id);
            CREATE TABLE organization_members (
              organization_id INTEGER NOT NULL,
              user_id INTEGER NOT NULL,
              role TEXT NOT NULL,
              id INTEGER NOT NULL,
              created_at INTEGER NOT NULL,
              PRIMARY KEY (organization_id, user_id)
            ) WITHOUT ROWID;
            CREATE INDEX organization_members_user ON organization_members (user_id, organization_id);
            CREATE INDEX organization_members_list ON organization_members (organization_id, id);
            CREATE INDEX posts_organization ON posts (organization_id, id) WHERE organization_id IS NOT NULL;
            CREATE INDEX posts_held ON posts (id) WHERE moderation_status = 'pending';
            CREATE TABLE reports (
              id INTEGER PRIMARY KEY,
              reporter_id INTEGER NOT NULL,
              target_kind TEXT NOT NULL,
              target_id INTEGER NOT NULL,
              reason TEXT NOT NULL,
              status TEXT NOT NULL DEFAULT 'open',
              created_at INTEGER NOT NULL,
              closed_by_decision INTEGER
            );
            CREATE UNIQUE INDEX reports_open_once ON reports (reporter_id, target_kind, target_id) WHERE status = 'open';
            CREATE INDEX reports_open ON reports (target_kind, target_id, id) WHERE status = 'open';
            CREATE TABLE moderation_decisions (
              id INTEGER PRIMARY KEY,
              target_kind TEXT NOT NULL,
              target_id INTEGER NOT NULL,
              moderator_id INTEGER,
              action TEXT NOT NULL,
              reason TEXT,
              previous_status TEXT,
              new_status TEXT,
              created_at INTEGER NOT NULL
            );
            CREATE INDEX moderation_decisions_target ON moderation_decisions (target_kind, target_id, id);
            CREATE VIRTUAL TABLE posts_fts USING fts5(
              title, text, description, tags, content = 'posts', content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 2'
            );
            \(postsFTSTriggersV4)
            INSERT INTO posts_fts (posts_fts) VALUES ('rebuild');
            CREATE VIRTUAL TABLE users_fts USING fts5(
              username, display_name, content = 'users', content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 2'
            );
            CREATE TRIGGER users_fts_insert AFTER INSERT ON users BEGIN
              INSERT INTO users_fts (rowid, username, display_name) VALUES (new.id, new.username, new.display_name);
            END;
            CREATE TRIGGER users_fts_delete AFTER DELETE ON users BEGIN
              INSERT INTO users_fts (users_fts, rowid, username, display_name) VALUES ('delete', old.id, old.username, old.display_name);
            END;
            CREATE TRIGGER users_fts_update AFTER UPDATE OF username, display_name ON users BEGIN
              INSERT INTO users_fts (users_fts, rowid, username, display_name) VALUES ('delete', old.id, old.username, old.display_name);
              INSERT INTO users_fts (rowid, username, display_name) VALUES (new.id, new.username, new.display_name);
            END;
            INSERT INTO users_fts (users_fts) VALUES ('rebuild');
            """)
}

extension PostgresSchema {
    /// Version 4: organizations and memberships, reports and the moderation audit trail, and
    /// full-text search: a weighted `tsvector` per post and per user in side tables with GIN
    /// indexes, kept current by triggers. Side tables rather than generated columns on `posts`,
    /// so the hot counter updates (likes, views) neither recompute nor carry the document.
    ///
    /// Documents use the `simple` configuration (no stemming, no stop words), which tokenizes like
    /// SQLite's `unicode61`, so both backends find the same posts for the same words.
    static let safety = Migration(
        version: 4,
        statements: [
            """
            CREATE TABLE organizations (
              id BIGINT PRIMARY KEY,
              name TEXT NOT NULL,
              kind TEXT NOT NULL,
              parent_id BIGINT,
              created_by BIGINT NOT NULL,
              member_count BIGINT NOT NULL DEFAULT 0,
              created_at BIGINT NOT NULL
            )
            """,
            "CREATE INDEX organizations_parent ON organizations (parent_id)",
            """
            CREATE TABLE organization_members (
              organization_id BIGINT NOT NULL,
              user_id BIGINT NOT NULL,
              role TEXT NOT NULL,
              id BIGINT NOT NULL,
              created_at BIGINT NOT NULL,
              PRIMARY KEY (organization_id, user_id)
            )
            """,
            "CREATE INDEX organization_members_user ON organization_members (user_id, organization_id)",
            "CREATE INDEX organization_members_list ON organization_members (organization_id, id)",
            "CREATE INDEX posts_organization ON posts (organization_id, id) WHERE organization_id IS NOT NULL",
            "CREATE INDEX posts_held ON posts (id) WHERE moderation_status = 'pending'",
            """
            CREATE TABLE reports (
              id BIGINT PRIMARY KEY,
              reporter_id BIGINT NOT NULL,
              target_kind TEXT NOT NULL,
              target_id BIGINT NOT NULL,
              reason TEXT NOT NULL,
              status TEXT NOT NULL DEFAULT 'open',
              created_at BIGINT NOT NULL,
              closed_by_decision BIGINT
            )
            """,
            "CREATE UNIQUE INDEX reports_open_once ON reports (reporter_id, target_kind, target_id) WHERE status = 'open'",
            "CREATE INDEX reports_open ON reports (target_kind, target_id, id) WHERE status = 'open'",
            """
            CREATE TABLE moderation_decisions (
              id BIGINT PRIMARY KEY,
              target_kind TEXT NOT NULL,
              target_id BIGINT NOT NULL,
              moderator_id BIGINT,
              action TEXT NOT NULL,
              reason TEXT,
              previous_status TEXT,
              new_status TEXT,
              created_at BIGINT NOT NULL
            )
            """,
            "CREATE INDEX moderation_decisions_target ON moderation_decisions (target_kind, target_id, id)",
            // Title A, tags B, text C, description D: ts_rank weighs a title match highest.
            """
            CREATE FUNCTION roost_post_document(title TEXT, body TEXT, description TEXT, tags TEXT) RETURNS tsvector
            LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
              SELECT setweight(to_tsvector('simple', coalesce(title, '')), 'A')
                || setweight(to_tsvector('simple', translate(coalesce(tags, ''), '[]",', '    ')), 'B')
                || setweight(to_tsvector('simple', coalesce(body, '')), 'C')
                || setweight(to_tsvector('simple', coalesce(description, '')), 'D')
            $$
            """,
            """
            CREATE FUNCTION roost_user_document(username TEXT, display_name TEXT) RETURNS tsvector
            LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
              SELECT setweight(to_tsvector('simple', coalesce(username, '')), 'A')
                || setweight(to_tsvector('simple', coalesce(display_name, '')), 'B')
            $$
            """,
            "CREATE TABLE post_search (post_id BIGINT PRIMARY KEY, document tsvector NOT NULL)",
            BulkLoad.postSearchDocument.create,
            "CREATE TABLE user_search (user_id BIGINT PRIMARY KEY, document tsvector NOT NULL)",
            "CREATE INDEX user_search_document ON user_search USING GIN (document)",
            """
            CREATE FUNCTION roost_sync_post_search() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              IF TG_OP = 'DELETE' THEN
                DELETE FROM post_search WHERE post_id = OLD.id;
                RETURN OLD;
              END IF;
              INSERT INTO post_search (post_id, document)
              VALUES (NEW.id, roost_post_document(NEW.title, NEW.text, NEW.description, NEW.tags))
              ON CONFLICT (post_id) DO UPDATE SET document = EXCLUDED.document;
              RETURN NEW;
            END
            $$
            """,
            """
            CREATE FUNCTION roost_sync_user_search() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              IF TG_OP = 'DELETE' THEN
                DELETE FROM user_search WHERE user_id = OLD.id;
                RETURN OLD;
              END IF;
              INSERT INTO user_search (user_id, document)
              VALUES (NEW.id, roost_user_document(NEW.username, NEW.display_name))
              ON CONFLICT (user_id) DO UPDATE SET document = EXCLUDED.document;
              RETURN NEW;
            END
            $$
            """,
            """
            CREATE TRIGGER posts_search_sync AFTER INSERT OR DELETE OR UPDATE OF title, text, description, tags ON posts
            FOR EACH ROW EXECUTE FUNCTION roost_sync_post_search()
            """,
            """
            CREATE TRIGGER users_search_sync AFTER INSERT OR DELETE OR UPDATE OF username, display_name ON users
            FOR EACH ROW EXECUTE FUNCTION roost_sync_user_search()
            """,
            "INSERT INTO post_search (post_id, document) SELECT id, roost_post_document(title, text, description, tags) FROM posts",
            "INSERT INTO user_search (user_id, document) SELECT id, roost_user_document(username, display_name) FROM users",
        ])
}
