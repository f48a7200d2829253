import Foundation
import Synchronization

/// Snowflake-style ids: 41 bits of milliseconds since 2025-01-01, 10 bits of node, 12 bits of sequence.
/// They sort in creation order, fit in a signed 64-bit column, and several Roost nodes on one
/// PostgreSQL generate distinct ids because their node numbers differ: each node leases its own
/// from the database (`AppServices.leaseNodeNumber`); random until then.
public final class IDGenerator: Sendable {
    public static let epochMillis: UInt64 = 1_735_689_600_000  // 2025-01-01T00:00:00Z
    private let state: Mutex<(millis: UInt64, sequence: UInt64, node: UInt64)>

    public init(node: UInt16 = UInt16.random(in: 0..<1024)) {
        state = Mutex((0, 0, UInt64(node & 0x3FF)))
    }

    /// The node number in the ids made from now on.
    public var node: UInt16 {
        get { state.withLock { UInt16($0.node) } }
        set { state.withLock { $0.node = UInt64(newValue & 0x3FF) } }
    }

    /// The node number an id was made with.
    public static func node(of id: ID) -> UInt16 { UInt16((id >> 12) & 0x3FF) }

    public func next(now: Date = Date()) -> ID {
        let wall = UInt64(max(0, now.timeIntervalSince1970 * 1000)) &- Self.epochMillis
        return state.withLock { state in
            var millis = max(wall, state.millis)
            var sequence: UInt64 = 0
            if millis == state.millis {
                sequence = state.sequence + 1
                if sequence > 0xFFF {
                    // Sequence exhausted in this millisecond: borrow the next one (ids stay ordered).
                    millis += 1
                    sequence = 0
                }
            }
            state.millis = millis
            state.sequence = sequence
            return (millis << 22) | (state.node << 12) | sequence
        }
    }

    /// The smallest id that could have been generated at `date`; used for time-bounded keyset scans.
    public static func lowerBound(for date: Date) -> ID {
        let millis = UInt64(max(0, date.timeIntervalSince1970 * 1000)) &- epochMillis
        return millis << 22
    }

    /// When an id was generated.
    public static func date(of id: ID) -> Date {
        Date(timeIntervalSince1970: Double((id >> 22) + epochMillis) / 1000)
    }
}
