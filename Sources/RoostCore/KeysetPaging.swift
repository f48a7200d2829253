/// Fills one page from a newest-first keyset source while some candidates are filtered out
/// (visibility, moderation, deleted posts). It keeps fetching after the last *scanned* candidate,
/// so a filtered item is never shown and never makes the next page skip or repeat anything.
public enum KeysetPaging {
    public struct Result<Item: Sendable>: Sendable {
        public var items: [Item]
        /// The id to continue after, or nil when the source is exhausted.
        public var next: ID?
    }

    /// - Parameters:
    ///   - limit: page size.
    ///   - after: continue strictly past this id (nil: from the start).
    ///   - maxRounds: bounds the work per request; a page may come back short with `next` set.
    ///   - candidateID / itemID: the keyset id of a candidate and of a kept item.
    ///   - fetch: candidates strictly past the given id, in list order, at most the given count.
    ///   - keep: the items a batch of candidates yields for this viewer, in order.
    public static func collect<Candidate: Sendable, Item: Sendable>(
        limit: Int, after: ID?, maxRounds: Int = 8,
        candidateID: (Candidate) -> ID, itemID: (Item) -> ID,
        fetch: (ID?, Int) async throws -> [Candidate],
        keep: ([Candidate]) async throws -> [Item]
    ) async throws -> Result<Item> {
        var kept: [Item] = []
        var cursor = after
        var exhausted = false
        var rounds = 0
        while kept.count <= limit, !exhausted, rounds < maxRounds {
            rounds += 1
            let want = max(limit + 1 - kept.count, min(limit + 1, 20))
            let batch = try await fetch(cursor, want)
            if batch.count < want { exhausted = true }
            guard let last = batch.last else { break }
            cursor = candidateID(last)
            kept += try await keep(batch)
        }
        if kept.count > limit {
            let items = Array(kept.prefix(limit))
            return Result(items: items, next: items.last.map(itemID))
        }
        return Result(items: kept, next: exhausted ? nil : cursor)
    }

    /// The common case where candidates and items are the same type.
    public static func collect<Item: Sendable>(
        limit: Int, after: ID?, maxRounds: Int = 8, id: (Item) -> ID,
        fetch: (ID?, Int) async throws -> [Item],
        keep: ([Item]) async throws -> [Item]
    ) async throws -> Result<Item> {
        try await collect(limit: limit, after: after, maxRounds: maxRounds, candidateID: id, itemID: id, fetch: fetch, keep: keep)
    }
}
