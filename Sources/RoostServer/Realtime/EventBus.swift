import Foundation
import Metrics
import RoostCore

/// Where controllers announce what happened. Delivery (streams, notifications) hangs off this;
/// publishing never blocks the writer.
///
/// Each committed change goes two ways: its stream side (a new post, a deletion, new counts)
/// straight to the `EventTransport`, which reaches every node; and, when it can notify anyone, to
/// this node's notification queue, which `NotificationService` drains in batches. Notifications
/// are therefore created exactly once, by the node that made the change, and then published
/// through the transport like any other event.
public final class EventBus: Sendable {
    let transport: any EventTransport
    /// Changes waiting to become notifications.
    let notificationQueue: BoundedQueue<DomainEvent>
    private let dropped = Counter(label: RoostMetrics.eventsDropped, dimensions: [("queue", "notifications")])

    /// - Parameters:
    ///   - transport: where stream events go (default: this node only).
    ///   - notificationQueueSize: changes waiting for the notification writer; beyond it they are
    ///     dropped and counted in `roost_events_dropped_total{queue="notifications"}`.
    public init(transport: any EventTransport = LocalEventTransport(), notificationQueueSize: Int = 50_000) {
        self.transport = transport
        self.notificationQueue = BoundedQueue(capacity: notificationQueueSize)
    }

    /// Announces a committed change. Returns at once: consumers work asynchronously.
    public func publish(_ event: DomainEvent) {
        if let realtime = RealtimeEvent(event) { transport.publish(realtime) }
        if Self.concernsNotifications(event), notificationQueue.push(event) == .refused { dropped.increment() }
    }

    /// Changes that create notifications, and deletions, whose notifications are removed. Not
    /// follows: a follow's notification is stored in the follow's own transaction.
    static func concernsNotifications(_ event: DomainEvent) -> Bool {
        switch event {
        case .postDeleted: true
        case .followed: false
        default: NotificationRules.mayNotify(event)
        }
    }

    /// Announces a change that only streams care about (a notification stored).
    func publishToStreams(_ event: RealtimeEvent) {
        transport.publish(event)
    }

    /// Announces that a login ended (logout): its streams close, on every node.
    public func sessionEnded(familyID: String) {
        transport.publish(.sessionEnded(familyID: familyID))
    }
}
