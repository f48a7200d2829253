import Foundation
import RoostCore
import RoostStorage

// The organization part of home feeds: posts attached to the reader's organizations are pulled at
// read time and merged with the followed posts, like celebrity posts, rather than fanned out.
//
// Why pull: an organization can be as large as a university, and writing each of its posts into
// tens of thousands of timelines is the celebrity problem again; a join or a leave takes effect on
// the next read with no backfill or purge to queue; and the merge costs one index range per
// organization (`posts_organization`) per page. Which candidates a reader may see is still decided
// by the visibility rule (with fresh memberships), so the short-lived membership cache here can at
// worst delay an organization's posts by a few seconds, never show one to a non-member.
extension FeedEngine {
    /// Organizations merged into one home feed; a reader in more than this many gets the first ones.
    static let maximumHomeOrganizations = 100

    /// The organizations `userID` effectively belongs to (cached briefly; invalidated on every
    /// node when their memberships change).
    func organizationIDs(of userID: ID) async throws -> [ID] {
        try await memberships.values(for: [userID]) { [store] keys in
            [keys[0]: try await store.organizationIDs(memberID: keys[0])]
        }[userID] ?? []
    }

    func invalidate(memberships userID: ID) {
        memberships.invalidate(userID)
        peers?.send(.memberships(userID))
        homePages.invalidate(viewers: [userID])
    }

    /// `candidates` (the newest followed and own posts before `before`) merged with the newest
    /// posts of the reader's organizations, newest first, at most `limit`.
    func mergingOrganizationPosts(_ candidates: [ID], userID: ID, before: ID?, limit: Int) async throws -> [ID] {
        let organizations = try await organizationIDs(of: userID)
        guard !organizations.isEmpty else { return candidates }
        let organizationPosts = try await store.organizationPostIDs(
            organizationIDs: Array(organizations.sorted().prefix(Self.maximumHomeOrganizations)), before: before, limit: limit)
        return HomeFeedMerge.mergeDescending([candidates, organizationPosts], limit: limit)
    }

    /// The mixed ranking's organization part, 0...1: whether the post belongs to one of the
    /// reader's organizations.
    static func organizationRelevance(_ post: Post, _ organizations: Set<ID>) -> Double {
        post.organizationID.map { organizations.contains($0) ? 1 : 0 } ?? 0
    }
}
