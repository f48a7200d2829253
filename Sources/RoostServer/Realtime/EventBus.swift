import Foundation
import RoostCore

/// Where controllers announce what happened. Delivery (streams, notifications) hangs off this;
/// publishing never blocks the writer.
public final class EventBus: Sendable {
    public init() {}

    /// Announces a committed change. Must return quickly: consumers work asynchronously.
    public func publish(_ event: DomainEvent) {}
}
