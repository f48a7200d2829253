import Foundation
import Logging
import Metrics
import RoostCore
import RoostStorage
import Synchronization

/// What one node tells the other nodes on its database: stream events, and which of their cached
/// pages, posts and profiles went stale. Each maps to one action on the receiver.
enum PeerMessage: Sendable, Equatable {
    case event(RealtimeEvent)
    /// These viewers' first home pages changed.
    case homePages([ID])
    /// Any first home page may have changed.
    case allHomePages
    /// A post's content or counters changed.
    case post(ID)
    /// A user's profile or counters changed.
    case user(ID)
    /// A user's organization memberships changed.
    case memberships(ID)
}

/// A `RealtimeEvent` on the wire. A post travels as its id: its text may not fit a payload, and
/// the receiver reads it back (committed before the event was sent).
enum PeerEvent: Codable, Equatable, Sendable {
    case postCreated(ID)
    case postDeleted(postID: ID, authorID: ID)
    case postCounts(postID: ID, likes: Int, comments: Int, shares: Int)
    case notification(NotificationRecord)
    case sessionEnded(String)

    init(_ event: RealtimeEvent) {
        switch event {
        case .postCreated(let post): self = .postCreated(post.id)
        case .postDeleted(let postID, let authorID): self = .postDeleted(postID: postID, authorID: authorID)
        case .postCounts(let postID, let likes, let comments, let shares):
            self = .postCounts(postID: postID, likes: likes, comments: comments, shares: shares)
        case .notification(let record): self = .notification(record)
        case .sessionEnded(let familyID): self = .sessionEnded(familyID)
        }
    }
}

/// One payload: some of one node's messages, merged (invalidations are sets: a receiver applies a
/// payload at once, so their order within it does not matter; events keep theirs).
struct PeerEnvelope: Codable, Equatable, Sendable {
    /// The sending node, so a node skips its own payloads.
    var node: UInt64
    /// Makes every payload distinct: PostgreSQL may fold identical notifications of one transaction.
    var sequence: UInt64
    var events: [PeerEvent]?
    var homePages: [ID]?
    var allHomePages: Bool?
    var posts: [ID]?
    var users: [ID]?
    var memberships: [ID]?
    /// Messages were lost on the way (a full outbox, a failed send): forget everything cached.
    var everything: Bool?

    init(node: UInt64, sequence: UInt64) {
        self.node = node
        self.sequence = sequence
    }
}

/// This node's end of the `PeerChannel`: an outbox that request paths fill without waiting and a
/// sender that drains it in batches (one `NOTIFY` statement per batch), and a listener that hands
/// other nodes' payloads to `PeerService`. Where messages may have been missed (before the
/// listener is ready, after it lost its connection, after this node lost outgoing ones) the
/// receivers forget what they cached instead, so a missed message costs a cache miss, never a
/// stale page.
final class PeerLink: Sendable {
    let node = UInt64.random(in: 1...UInt64.max)
    let channel: any PeerChannel
    private let outbox: BoundedQueue<PeerMessage>
    private let lost = Atomic<Bool>(false)
    private let listening = Atomic<Bool>(false)
    private let sequence = Atomic<UInt64>(0)
    private let sent = Counter(label: RoostMetrics.peerPayloads, dimensions: [("direction", "sent")])
    private let received = Counter(label: RoostMetrics.peerPayloads, dimensions: [("direction", "received")])
    private let sendFailures = Counter(label: RoostMetrics.peerFailures, dimensions: [("kind", "send")])
    private let listenFailures = Counter(label: RoostMetrics.peerFailures, dimensions: [("kind", "listen")])
    private let overflows = Counter(label: RoostMetrics.peerFailures, dimensions: [("kind", "outbox_full")])

    init(channel: any PeerChannel, capacity: Int = 100_000) {
        self.channel = channel
        self.outbox = BoundedQueue(capacity: capacity)
    }

    /// Whether this node hears the others now, so its caches see every node's invalidations.
    var isListening: Bool { listening.load(ordering: .acquiring) }

    /// Queues a message for the other nodes; never waits.
    func send(_ message: PeerMessage) {
        if outbox.push(message) == .refused {
            lost.store(true, ordering: .releasing)
            overflows.increment()
        }
    }

    /// Sends what the outbox holds, batch by batch, until the task is cancelled.
    func runSender(logger: Logger) async {
        while true {
            let batch = await outbox.next()
            if batch.isEmpty { return }
            let everything = lost.exchange(false, ordering: .acquiringAndReleasing)
            let payloads = self.payloads(batch, everything: everything)
            do {
                try await channel.send(payloads)
                sent.increment(by: Int64(payloads.count))
            } catch {
                if Task.isCancelled { return }
                lost.store(true, ordering: .releasing)
                sendFailures.increment()
                logger.warning("could not notify the other nodes", metadata: ["error": "\(String(reflecting: type(of: error)))"])
            }
        }
    }

    /// Listens until the task is cancelled, listening again after a failure (100 ms, doubling
    /// to 5 s). `reset` runs whenever other nodes' messages may have been missed: once listening,
    /// and after the connection is lost.
    func runListener(logger: Logger, reset: @escaping @Sendable () -> Void, receive: @escaping @Sendable (PeerEnvelope) async -> Void) async {
        var backoff = Duration.milliseconds(100)
        while !Task.isCancelled {
            do {
                try await channel.listen(
                    ready: {
                        reset()
                        self.listening.store(true, ordering: .releasing)
                    },
                    receive: { [node, received] payload in
                        // A node hears its own payloads too; the prefix tells them apart undecoded.
                        guard !payload.hasPrefix("\(node):"), let envelope = Self.decode(payload) else { return }
                        received.increment()
                        await receive(envelope)
                    })
            } catch {
                if !Task.isCancelled {
                    listenFailures.increment()
                    logger.warning("lost the other nodes' notifications", metadata: ["error": "\(String(reflecting: type(of: error)))"])
                }
            }
            if listening.exchange(false, ordering: .acquiringAndReleasing) { backoff = .milliseconds(100) }
            reset()
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, .seconds(5))
        }
    }

    // MARK: Payloads

    /// The batch as payloads of at most `channel.maximumPayload` bytes, events in order.
    func payloads(_ batch: [PeerMessage], everything: Bool = false) -> [String] {
        var events: [PeerEvent] = []
        var homePages = Set<ID>()
        var posts = Set<ID>()
        var users = Set<ID>()
        var memberships = Set<ID>()
        var allHomePages = false
        for message in batch {
            switch message {
            case .event(let event): events.append(PeerEvent(event))
            case .homePages(let viewers): homePages.formUnion(viewers)
            case .allHomePages: allHomePages = true
            case .post(let id): posts.insert(id)
            case .user(let id): users.insert(id)
            case .memberships(let id): memberships.insert(id)
            }
        }
        if allHomePages || everything { homePages = [] }

        let encoder = JSONEncoder()
        let limit = channel.maximumPayload
        // The node prefix, the envelope's keys and numbers, with room to spare; an id costs at most
        // 21 bytes (20 digits and a comma).
        let overhead = 300
        let idSize = 21
        let paths: [WritableKeyPath<PeerEnvelope, [ID]?>] = [\.homePages, \.posts, \.users, \.memberships]
        var payloads: [String] = []
        var current = newEnvelope()
        var currentEvents: [PeerEvent] = []
        var lists: [[ID]] = Array(repeating: [], count: paths.count)
        var size = overhead
        func flush() {
            guard size > overhead else { return }
            if !currentEvents.isEmpty { current.events = currentEvents }
            for (path, ids) in zip(paths, lists) where !ids.isEmpty { current[keyPath: path] = ids }
            if let data = try? encoder.encode(current) { payloads.append("\(node):" + String(decoding: data, as: UTF8.self)) }
            current = newEnvelope()
            currentEvents = []
            lists = Array(repeating: [], count: paths.count)
            size = overhead
        }
        for event in events {
            // Events are small (ids, counts, one notification); one that is not cannot be sent.
            guard let eventSize = try? encoder.encode(event).count, eventSize + 1 <= limit - overhead else { continue }
            if size + eventSize + 1 > limit { flush() }
            currentEvents.append(event)
            size += eventSize + 1
        }
        for (index, ids) in [homePages, posts, users, memberships].enumerated() {
            for id in ids {
                if size + idSize > limit { flush() }
                lists[index].append(id)
                size += idSize
            }
        }
        if allHomePages || everything {
            current.allHomePages = allHomePages ? true : nil
            current.everything = everything ? true : nil
            size += 1
        }
        flush()
        return payloads
    }

    private func newEnvelope() -> PeerEnvelope {
        PeerEnvelope(node: node, sequence: sequence.add(1, ordering: .relaxed).newValue)
    }

    /// A payload is `<node>:<envelope JSON>`.
    static func decode(_ payload: String) -> PeerEnvelope? {
        guard let colon = payload.utf8.firstIndex(of: UInt8(ascii: ":")) else { return nil }
        return try? JSONDecoder().decode(PeerEnvelope.self, from: Data(payload.utf8[payload.utf8.index(after: colon)...]))
    }
}
