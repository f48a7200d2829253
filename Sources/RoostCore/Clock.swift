import Foundation

/// Time as the application sees it; tests inject a fixed or advancing clock.
public protocol RoostClock: Sendable {
    func now() -> Date
}

public struct SystemClock: RoostClock {
    public init() {}
    public func now() -> Date { Date() }
}
