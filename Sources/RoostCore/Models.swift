import Foundation

/// Roost ids are unsigned 64-bit integers that sort in creation order (see `IDGenerator`).
/// They are stored as signed 64-bit integers; ids never use the top bit.
public typealias ID = UInt64

/// Who is asking. `nil` user means an anonymous request.
public struct Viewer: Sendable, Hashable {
    public var userID: ID
    public var isModerator: Bool

    public init(userID: ID, isModerator: Bool = false) {
        self.userID = userID
        self.isModerator = isModerator
    }
}

// MARK: - Accounts

/// A stored account. The password hash is kept out of this type on purpose so it cannot
/// end up in a response or a log line by accident (see `Credentials`).
public struct User: Sendable, Equatable {
    public var id: ID
    public var username: String
    public var email: String
    public var displayName: String
    public var bio: String
    public var avatarURL: String?
    public var verified: Bool
    public var isModerator: Bool
    public var followersCount: Int
    public var followingCount: Int
    public var postsCount: Int
    public var createdAt: Date

    public init(
        id: ID, username: String, email: String, displayName: String, bio: String = "",
        avatarURL: String? = nil, verified: Bool = false, isModerator: Bool = false,
        followersCount: Int = 0, followingCount: Int = 0, postsCount: Int = 0, createdAt: Date
    ) {
        self.id = id
        self.username = username
        self.email = email
        self.displayName = displayName
        self.bio = bio
        self.avatarURL = avatarURL
        self.verified = verified
        self.isModerator = isModerator
        self.followersCount = followersCount
        self.followingCount = followingCount
        self.postsCount = postsCount
        self.createdAt = createdAt
    }
}

/// A user together with the password hash, returned only to the login path.
public struct Credentials: Sendable {
    public var user: User
    /// `nil` for imported accounts that have not set a password yet: they cannot log in.
    public var passwordHash: String?

    public init(user: User, passwordHash: String?) {
        self.user = user
        self.passwordHash = passwordHash
    }
}

public struct NewUser: Sendable {
    public var id: ID
    public var username: String
    public var email: String
    public var displayName: String
    public var passwordHash: String?
    public var createdAt: Date

    public init(id: ID, username: String, email: String, displayName: String, passwordHash: String?, createdAt: Date) {
        self.id = id
        self.username = username
        self.email = email
        self.displayName = displayName
        self.passwordHash = passwordHash
        self.createdAt = createdAt
    }
}

/// Fields of `PATCH /me`; `nil` leaves a field unchanged.
public struct ProfilePatch: Sendable, Equatable {
    public var displayName: String?
    public var bio: String?
    /// `.some(nil)` clears the avatar.
    public var avatarURL: String??

    public init(displayName: String? = nil, bio: String? = nil, avatarURL: String?? = nil) {
        self.displayName = displayName
        self.bio = bio
        self.avatarURL = avatarURL
    }
}

/// How the viewer relates to another account.
public struct Relationship: Sendable, Equatable {
    public var following: Bool
    public var followedBy: Bool

    public init(following: Bool, followedBy: Bool) {
        self.following = following
        self.followedBy = followedBy
    }
}

// MARK: - Auth

/// One refresh token as stored: only its SHA-256 is kept. Tokens of one login share a family;
/// presenting a token that was already rotated revokes the whole family.
public struct RefreshTokenRecord: Sendable, Equatable {
    public var tokenHash: String
    public var familyID: String
    public var userID: ID
    public var expiresAt: Date
    public var usedAt: Date?
    public var revokedAt: Date?

    public init(tokenHash: String, familyID: String, userID: ID, expiresAt: Date, usedAt: Date? = nil, revokedAt: Date? = nil) {
        self.tokenHash = tokenHash
        self.familyID = familyID
        self.userID = userID
        self.expiresAt = expiresAt
        self.usedAt = usedAt
        self.revokedAt = revokedAt
    }
}

/// The outcome of presenting a refresh token.
public enum RefreshRotation: Sendable, Equatable {
    /// The token was valid; it is now used and the replacement (stored in the same family) replaces it.
    case rotated(userID: ID, familyID: String)
    /// The token had been used before: its family is now revoked.
    case reused
    /// Unknown, expired or revoked.
    case invalid
}

// MARK: - Posts

public enum PostVisibility: String, Sendable, Codable, CaseIterable {
    case `public`
    case followers
    case organization
}

public enum ModerationStatus: String, Sendable, Codable, CaseIterable {
    case approved
    case pending
    case removed
}

public struct Media: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable {
        case image
        case video
    }

    public var url: String
    public var type: Kind

    public init(url: String, type: Kind) {
        self.url = url
        self.type = type
    }
}

public struct Post: Sendable, Equatable {
    public var id: ID
    public var authorID: ID
    public var text: String
    public var title: String?
    public var description: String?
    public var tags: [String]
    public var media: [Media]
    public var assetType: String?
    public var visibility: PostVisibility
    public var organizationID: ID?
    public var inspiredByPostID: ID?
    public var likeCount: Int
    public var commentCount: Int
    public var shareCount: Int
    public var viewCount: Int
    public var isFeatured: Bool
    public var moderationStatus: ModerationStatus
    public var createdAt: Date
    public var updatedAt: Date

    public init(
        id: ID, authorID: ID, text: String, title: String? = nil, description: String? = nil,
        tags: [String] = [], media: [Media] = [], assetType: String? = nil,
        visibility: PostVisibility = .public, organizationID: ID? = nil, inspiredByPostID: ID? = nil,
        likeCount: Int = 0, commentCount: Int = 0, shareCount: Int = 0, viewCount: Int = 0,
        isFeatured: Bool = false, moderationStatus: ModerationStatus = .approved,
        createdAt: Date, updatedAt: Date
    ) {
        self.id = id
        self.authorID = authorID
        self.text = text
        self.title = title
        self.description = description
        self.tags = tags
        self.media = media
        self.assetType = assetType
        self.visibility = visibility
        self.organizationID = organizationID
        self.inspiredByPostID = inspiredByPostID
        self.likeCount = likeCount
        self.commentCount = commentCount
        self.shareCount = shareCount
        self.viewCount = viewCount
        self.isFeatured = isFeatured
        self.moderationStatus = moderationStatus
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// Fields of `PATCH /posts/{id}`; `nil` leaves a field unchanged.
public struct PostPatch: Sendable, Equatable {
    public var text: String?
    public var title: String??
    public var description: String??
    public var tags: [String]?

    public init(text: String? = nil, title: String?? = nil, description: String?? = nil, tags: [String]? = nil) {
        self.text = text
        self.title = title
        self.description = description
        self.tags = tags
    }
}

/// Filters every feed accepts (`?tags=a,b&asset_type=x`).
public struct FeedFilter: Sendable, Equatable, Hashable {
    /// Posts must carry all of these (lower-case).
    public var tags: [String]
    public var assetType: String?

    public init(tags: [String] = [], assetType: String? = nil) {
        self.tags = tags
        self.assetType = assetType
    }

    public var isEmpty: Bool { tags.isEmpty && assetType == nil }

    public func matches(_ post: Post) -> Bool {
        if let assetType, post.assetType != assetType { return false }
        return tags.allSatisfy { post.tags.contains($0) }
    }
}

/// What the viewer did to a post, shown as `"viewer": {"liked", "shared"}`.
public struct ViewerPostFlags: Sendable, Equatable {
    public var liked: Bool
    public var shared: Bool

    public init(liked: Bool = false, shared: Bool = false) {
        self.liked = liked
        self.shared = shared
    }
}

// MARK: - Comments

public struct Comment: Sendable, Equatable {
    public var id: ID
    public var postID: ID
    public var parentID: ID?
    public var authorID: ID
    public var text: String
    public var likeCount: Int
    public var createdAt: Date

    public init(id: ID, postID: ID, parentID: ID?, authorID: ID, text: String, likeCount: Int = 0, createdAt: Date) {
        self.id = id
        self.postID = postID
        self.parentID = parentID
        self.authorID = authorID
        self.text = text
        self.likeCount = likeCount
        self.createdAt = createdAt
    }
}

// MARK: - Idempotency

/// The first response to a request carrying an `Idempotency-Key`, replayed for its retries.
public struct StoredResponse: Sendable, Equatable {
    public var status: Int
    public var body: [UInt8]

    public init(status: Int, body: [UInt8]) {
        self.status = status
        self.body = body
    }
}
