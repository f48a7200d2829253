/// What travels from the node where something happened to every node's open streams. Each node
/// decides for its own connections who receives an event, so an event names what changed and
/// never a recipient list (except a notification, which has exactly one recipient).
public enum RealtimeEvent: Sendable, Equatable {
    /// A post was created; it goes to the streams of viewers whose home feed it enters.
    case postCreated(Post)
    case postDeleted(postID: ID, authorID: ID)
    /// A post's counts changed; it goes to the streams showing that post.
    case postCounts(postID: ID, likeCount: Int, commentCount: Int, shareCount: Int)
    /// A notification was stored for its recipient.
    case notification(NotificationRecord)
    /// A login ended (logout, refresh-token reuse): streams opened with its tokens close.
    case sessionEnded(familyID: String)

    /// The stream side of a committed change, when it has one. Notifications are not derived
    /// here: they are created once, on the node where the change happened, and then published.
    public init?(_ event: DomainEvent) {
        switch event {
        case .postCreated(let post): self = .postCreated(post)
        case .postDeleted(let postID, let authorID): self = .postDeleted(postID: postID, authorID: authorID)
        case .postCounts(let postID, let likes, let comments, let shares):
            self = .postCounts(postID: postID, likeCount: likes, commentCount: comments, shareCount: shares)
        case .followed, .liked, .commented, .shared: return nil
        }
    }
}
