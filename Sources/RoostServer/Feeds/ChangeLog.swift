import RoostCore
import Synchronization

/// When each post and each user last changed, as far as this node knows: its own writes and the
/// other nodes' invalidations, the same events that drop them from the post and user caches.
///
/// A cached home page that aged out is rendered again so its counters and author profiles catch
/// up (`HomePageCache`). When none of its posts and authors changed since it was rendered, that
/// render would give the same bytes, and the page is renewed instead (measured on the home
/// phase of `roost bench`, see BENCHMARKS.md). Only recent changes matter: entries older than
/// `horizon` are dropped, and asking about an earlier time answers "changed".
final class ChangeLog: Sendable {
    typealias Instant = ContinuousClock.Instant

    private struct State {
        var posts: [ID: Instant] = [:]
        var users: [ID: Instant] = [:]
        /// Anything may have changed at or before this instant (a reset, or dropped entries).
        var floor: Instant
        var pruneAt: Int

        mutating func prune(now: Instant, horizon: Duration, limit: Int) {
            let oldest = now - horizon
            posts = posts.filter { $0.value > oldest }
            users = users.filter { $0.value > oldest }
            floor = max(floor, oldest)
            pruneAt = max(limit, 2 * (posts.count + users.count))
        }
    }

    private let state: Mutex<State>
    /// How far back changes are remembered.
    let horizon: Duration
    private let pruneLimit: Int

    init(horizon: Duration, pruneLimit: Int = 50_000) {
        self.horizon = horizon
        self.pruneLimit = pruneLimit
        state = Mutex(State(floor: .now, pruneAt: pruneLimit))
    }

    func changed(post id: ID) { record { $0.posts[id] = .now } }

    func changed(user id: ID) { record { $0.users[id] = .now } }

    /// Anything may have changed (this node dropped all its caches).
    func changedEverything() {
        state.withLock { state in
            state.posts.removeAll()
            state.users.removeAll()
            state.floor = .now
            state.pruneAt = pruneLimit
        }
    }

    /// Whether none of `posts` and `users` changed after `instant`.
    func unchanged(posts: [ID], users: [ID], since instant: Instant) -> Bool {
        state.withLock { state in
            guard state.floor < instant else { return false }
            return !posts.contains { state.posts[$0].map { $0 >= instant } == true }
                && !users.contains { state.users[$0].map { $0 >= instant } == true }
        }
    }

    private func record(_ change: (inout State) -> Void) {
        state.withLock { state in
            change(&state)
            if state.posts.count + state.users.count >= state.pruneAt { state.prune(now: .now, horizon: horizon, limit: pruneLimit) }
        }
    }
}
