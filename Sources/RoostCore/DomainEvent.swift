/// Something that happened which other parts of Roost react to: realtime streams, notifications.
/// Controllers publish these after the change is committed.
public enum DomainEvent: Sendable, Equatable {
    case postCreated(Post)
    case postDeleted(postID: ID, authorID: ID)
    /// A post's counts changed (like, unlike, comment, share).
    case postCounts(postID: ID, likeCount: Int, commentCount: Int, shareCount: Int)
    case followed(followerID: ID, followeeID: ID)
    case liked(userID: ID, post: Post)
    case commented(Comment, post: Post)
    case shared(userID: ID, post: Post)
}
