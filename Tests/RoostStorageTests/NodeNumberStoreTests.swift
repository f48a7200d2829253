import Foundation
import RoostCore
import Testing

@testable import RoostStorage

extension RoostStoreConformance {
    /// Id node numbers: unique among the nodes of one PostgreSQL; SQLite has one node and leases none.
    @Suite struct NodeNumbers {
        @Test func leasesAreDistinctRenewableAndReleased() async throws {
            try await TestStore.with { store in
                guard !store.isSingleProcess else {
                    #expect(try await store.leaseNodeNumber(holder: "a", now: t0, lease: 60) == nil)
                    return
                }
                let holders = (0..<20).map { "node-\($0)" }
                var numbers: [UInt16] = []
                for holder in holders {
                    numbers.append(try #require(try await store.leaseNodeNumber(holder: holder, now: t0, lease: 60)))
                }
                #expect(Set(numbers).count == holders.count, "two live nodes got one number: \(numbers)")
                #expect(numbers.allSatisfy { $0 < 1024 })
                // A renewal keeps the number.
                #expect(try await store.leaseNodeNumber(holder: holders[0], now: t0 + 30, lease: 60) == numbers[0])
                // A released number, or one whose lease ran out, may go to a new node; the live ones may not.
                try await store.releaseNodeNumber(holder: holders[1])
                for index in 0..<30 {
                    let number = try #require(try await store.leaseNodeNumber(holder: "late-\(index)", now: t0 + 61, lease: 60))
                    #expect(number != numbers[0], "the renewed number went to another node")
                }
            }
        }
    }
}
