import Foundation

// MARK: - Notifications

/// What a notification is about (the contract's `type`).
public enum NotificationKind: String, Sendable, Codable, CaseIterable {
    case follow
    case like
    case comment
    case share
    case mention
}

/// One notification as stored: `actor` did `kind` to `recipient` (or to their post or comment).
public struct NotificationRecord: Sendable, Equatable, Codable {
    public var id: ID
    public var recipientID: ID
    public var kind: NotificationKind
    public var actorID: ID
    public var postID: ID?
    public var commentID: ID?
    public var createdAt: Date
    public var read: Bool

    public init(
        id: ID, recipientID: ID, kind: NotificationKind, actorID: ID, postID: ID? = nil, commentID: ID? = nil, createdAt: Date,
        read: Bool = false
    ) {
        self.id = id
        self.recipientID = recipientID
        self.kind = kind
        self.actorID = actorID
        self.postID = postID
        self.commentID = commentID
        self.createdAt = createdAt
        self.read = read
    }

    /// Stores keep at most one notification per key, ever. That is what stops like → unlike →
    /// like (or follow → unfollow → follow) from notifying twice, and what makes a batch that is
    /// retried after a failure store nothing twice.
    public var dedupeKey: String {
        switch kind {
        case .follow: "follow:\(actorID):\(recipientID)"
        case .like: "like:\(actorID):\(postID ?? 0)"
        case .share: "share:\(actorID):\(postID ?? 0)"
        case .comment: "comment:\(recipientID):\(commentID ?? 0)"
        case .mention: "mention:\(recipientID):\(postID ?? 0):\(commentID ?? 0)"
        }
    }
}

extension NotificationRecord {
    /// The notification `draft` becomes, unread.
    public init(_ draft: NotificationRules.Draft, id: ID, createdAt: Date) {
        self.init(
            id: id, recipientID: draft.recipientID, kind: draft.kind, actorID: draft.actorID, postID: draft.post?.id,
            commentID: draft.commentID, createdAt: createdAt)
    }
}

// MARK: - Mentions

/// `@username` mentions in post and comment text.
public enum Mentions {
    /// Mentions beyond this many in one text are ignored, so one post cannot notify a crowd.
    public static let limit = 10

    /// The lower-cased usernames mentioned in `text`, in order of first appearance, at most `limit`.
    ///
    /// A mention is `@` followed by 3–30 characters of `[A-Za-z0-9_]` (a username), not preceded
    /// by such a character (so `bob@example.com` mentions nobody) and not followed by one (so
    /// `@` and 31 letters is not a mention of the first 30).
    public static func usernames(in text: String) -> [String] {
        let bytes = Array(text.utf8)
        var found: [String] = []
        var index = 0
        while index < bytes.count, found.count < limit {
            guard bytes[index] == UInt8(ascii: "@"), index == 0 || !isWord(bytes[index - 1]) else {
                index += 1
                continue
            }
            var end = index + 1
            while end < bytes.count, isWord(bytes[end]) { end += 1 }
            let length = end - index - 1
            if (3...30).contains(length) {
                // ASCII word characters only, so the slice is valid UTF-8.
                let name = String(decoding: bytes[(index + 1)..<end], as: UTF8.self).lowercased()
                if !found.contains(name) { found.append(name) }
            }
            index = max(end, index + 1)
        }
        return found
    }

    private static func isWord(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "_")
    }
}

// MARK: - Who is notified of what

/// Which notifications a committed change causes. Pure: the caller looks up what an event does not
/// carry (a parent comment's author, the accounts behind mentioned usernames), checks that each
/// recipient may see the post (`PostVisibilityRule`), and assigns ids.
public enum NotificationRules {
    /// A notification to create, before its id, time and visibility check.
    public struct Draft: Sendable, Equatable {
        public var recipientID: ID
        public var kind: NotificationKind
        public var actorID: ID
        /// The post it is about; the recipient must be allowed to see it.
        public var post: Post?
        public var commentID: ID?

        public init(recipientID: ID, kind: NotificationKind, actorID: ID, post: Post? = nil, commentID: ID? = nil) {
            self.recipientID = recipientID
            self.kind = kind
            self.actorID = actorID
            self.post = post
            self.commentID = commentID
        }
    }

    /// Whether an event can cause notifications at all (the rest need no work): a new post only
    /// when its text could mention someone.
    public static func mayNotify(_ event: DomainEvent) -> Bool {
        switch event {
        case .followed, .liked, .commented, .shared: true
        case .postCreated(let post): post.text.utf8.contains(UInt8(ascii: "@"))
        case .postDeleted, .postCounts: false
        }
    }

    /// The notifications an event causes, apart from mentions. Nobody is notified of their own action.
    /// - Parameter parentCommentAuthorID: for a reply, the author of the comment replied to; they
    ///   are notified too (as a `comment`), unless they are the post's author or the replier.
    public static func drafts(for event: DomainEvent, parentCommentAuthorID: ID? = nil) -> [Draft] {
        var drafts: [Draft] = []
        switch event {
        case .followed(let followerID, let followeeID):
            drafts.append(Draft(recipientID: followeeID, kind: .follow, actorID: followerID))
        case .liked(let userID, let post):
            drafts.append(Draft(recipientID: post.authorID, kind: .like, actorID: userID, post: post))
        case .shared(let userID, let post):
            drafts.append(Draft(recipientID: post.authorID, kind: .share, actorID: userID, post: post))
        case .commented(let comment, let post):
            drafts.append(Draft(recipientID: post.authorID, kind: .comment, actorID: comment.authorID, post: post, commentID: comment.id))
            if let parentCommentAuthorID, parentCommentAuthorID != post.authorID {
                drafts.append(
                    Draft(recipientID: parentCommentAuthorID, kind: .comment, actorID: comment.authorID, post: post, commentID: comment.id))
            }
        case .postCreated, .postDeleted, .postCounts:
            break
        }
        return drafts.filter { $0.recipientID != $0.actorID }
    }

    /// The usernames the event's new text mentions (a new post's or comment's).
    public static func mentionedUsernames(in event: DomainEvent) -> [String] {
        switch event {
        case .postCreated(let post): Mentions.usernames(in: post.text)
        case .commented(let comment, _): Mentions.usernames(in: comment.text)
        default: []
        }
    }

    /// Mention notifications for the accounts the text named, except the actor and anyone `drafts`
    /// already notifies about the same comment (a post's author mentioned in a comment on it gets
    /// the `comment` notification only).
    public static func mentionDrafts(for event: DomainEvent, mentionedUserIDs: [ID], alreadyNotified: [Draft]) -> [Draft] {
        let actorID: ID
        let post: Post
        let commentID: ID?
        switch event {
        case .postCreated(let created):
            (actorID, post, commentID) = (created.authorID, created, nil)
        case .commented(let comment, let commented):
            (actorID, post, commentID) = (comment.authorID, commented, comment.id)
        default:
            return []
        }
        let skip = Set(alreadyNotified.map(\.recipientID)).union([actorID])
        var seen = Set<ID>()
        return mentionedUserIDs.compactMap { userID in
            guard !skip.contains(userID), seen.insert(userID).inserted else { return nil }
            return Draft(recipientID: userID, kind: .mention, actorID: actorID, post: post, commentID: commentID)
        }
    }
}
