import Foundation
import RoostCore

// The JSON shapes of the contract. Optional fields are written as `null` rather than left out,
// so clients see every documented key on every object.

struct UserBody: Encodable, Sendable {
    var user: User
    var relationship: Relationship?
    /// Only `/me` shows the email.
    var includeEmail: Bool = false

    enum CodingKeys: String, CodingKey {
        case id, username, email, bio, verified, viewer
        case displayName = "display_name", avatarURL = "avatar_url", followersCount = "followers_count"
        case followingCount = "following_count", postsCount = "posts_count", createdAt = "created_at"
        case isModerator = "is_moderator"
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(String(user.id), forKey: .id)
        try c.encode(user.username, forKey: .username)
        try c.encode(user.displayName, forKey: .displayName)
        try c.encode(user.bio, forKey: .bio)
        try c.encode(user.avatarURL, forKey: .avatarURL)
        try c.encode(user.verified, forKey: .verified)
        try c.encode(user.followersCount, forKey: .followersCount)
        try c.encode(user.followingCount, forKey: .followingCount)
        try c.encode(user.postsCount, forKey: .postsCount)
        try c.encode(Timestamp.format(user.createdAt), forKey: .createdAt)
        if includeEmail {
            try c.encode(user.email, forKey: .email)
            try c.encode(user.isModerator, forKey: .isModerator)
        }
        if let relationship {
            try c.encode(["following": relationship.following, "followed_by": relationship.followedBy], forKey: .viewer)
        }
    }
}

/// The short author object embedded in posts and comments.
struct AuthorBody: Encodable, Sendable {
    var user: User

    enum CodingKeys: String, CodingKey {
        case id, username, verified
        case displayName = "display_name", avatarURL = "avatar_url"
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(String(user.id), forKey: .id)
        try c.encode(user.username, forKey: .username)
        try c.encode(user.displayName, forKey: .displayName)
        try c.encode(user.avatarURL, forKey: .avatarURL)
        try c.encode(user.verified, forKey: .verified)
    }

    /// Shown for an author whose account no longer exists.
    static func missing(_ id: ID) -> AuthorBody {
        AuthorBody(user: User(id: id, username: "deleted", email: "", displayName: "deleted", createdAt: Date(timeIntervalSince1970: 0)))
    }
}

/// Why a ranked post is where it is: the parts its score was made of.
public struct ScoreReasons: Sendable, Equatable, Encodable {
    public var recency: Double
    public var engagement: Double
    public var affinity: Double
    public var organization: Double

    public init(recency: Double = 0, engagement: Double = 0, affinity: Double = 0, organization: Double = 0) {
        self.recency = recency
        self.engagement = engagement
        self.affinity = affinity
        self.organization = organization
    }
}

struct PostBody: Encodable, Sendable {
    var post: Post
    var author: AuthorBody
    /// The viewer's like/share flags; nil leaves the `viewer` key out (cached fragments add it per viewer).
    var flags: ViewerPostFlags?
    var score: Double?
    var reasons: ScoreReasons?

    enum CodingKeys: String, CodingKey {
        case id, author, text, title, description, tags, media, visibility, viewer, score, reasons
        case assetType = "asset_type", organizationID = "organization_id", inspiredByPostID = "inspired_by_post_id"
        case likeCount = "like_count", commentCount = "comment_count", shareCount = "share_count", viewCount = "view_count"
        case isFeatured = "is_featured", moderationStatus = "moderation_status", createdAt = "created_at", updatedAt = "updated_at"
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(String(post.id), forKey: .id)
        try c.encode(author, forKey: .author)
        try c.encode(post.text, forKey: .text)
        try c.encode(post.title, forKey: .title)
        try c.encode(post.description, forKey: .description)
        try c.encode(post.tags, forKey: .tags)
        try c.encode(post.media, forKey: .media)
        try c.encode(post.assetType, forKey: .assetType)
        try c.encode(post.visibility, forKey: .visibility)
        try c.encode(post.organizationID.map { String($0) }, forKey: .organizationID)
        try c.encode(post.inspiredByPostID.map { String($0) }, forKey: .inspiredByPostID)
        try c.encode(post.likeCount, forKey: .likeCount)
        try c.encode(post.commentCount, forKey: .commentCount)
        try c.encode(post.shareCount, forKey: .shareCount)
        try c.encode(post.viewCount, forKey: .viewCount)
        try c.encode(post.isFeatured, forKey: .isFeatured)
        try c.encode(post.moderationStatus, forKey: .moderationStatus)
        try c.encode(Timestamp.format(post.createdAt), forKey: .createdAt)
        try c.encode(Timestamp.format(post.updatedAt), forKey: .updatedAt)
        if let flags { try c.encode(["liked": flags.liked, "shared": flags.shared], forKey: .viewer) }
        if let score { try c.encode(score, forKey: .score) }
        if let reasons { try c.encode(reasons, forKey: .reasons) }
    }
}

struct CommentBody: Encodable, Sendable {
    var comment: Comment
    var author: AuthorBody

    enum CodingKeys: String, CodingKey {
        case id, author, text
        case postID = "post_id", parentID = "parent_id", createdAt = "created_at", likeCount = "like_count"
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(String(comment.id), forKey: .id)
        try c.encode(String(comment.postID), forKey: .postID)
        try c.encode(comment.parentID.map { String($0) }, forKey: .parentID)
        try c.encode(author, forKey: .author)
        try c.encode(comment.text, forKey: .text)
        try c.encode(Timestamp.format(comment.createdAt), forKey: .createdAt)
        try c.encode(comment.likeCount, forKey: .likeCount)
    }
}

struct PageBody<Item: Encodable & Sendable>: Encodable, Sendable {
    var items: [Item]
    var nextCursor: String?

    enum CodingKeys: String, CodingKey {
        case items
        case nextCursor = "next_cursor", hasMore = "has_more"
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(items, forKey: .items)
        try c.encode(nextCursor, forKey: .nextCursor)
        try c.encode(nextCursor != nil, forKey: .hasMore)
    }
}

struct AuthBody: Encodable, Sendable {
    var user: UserBody
    var accessToken: String
    var refreshToken: String
    var expiresIn: Int

    enum CodingKeys: String, CodingKey {
        case user
        case accessToken = "access_token", refreshToken = "refresh_token", expiresIn = "expires_in"
    }
}
