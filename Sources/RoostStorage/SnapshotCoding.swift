import Foundation
import RoostCore

/// Ranked snapshots are stored (on both backends) as one binary column: an 8-byte header holding
/// the chronological continuation id (0 for none), then per entry the post id and five doubles,
/// little-endian. Compact and decoded without a JSON parser on every page of a ranked scroll.
enum SnapshotCoding {
    static let entrySize = 48

    static func encode(_ snapshot: RankedSnapshot) -> Data {
        var data = Data(capacity: 8 + snapshot.entries.count * entrySize)
        func append(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { data.append(contentsOf: $0) } }
        append(snapshot.continueAfter ?? 0)
        for entry in snapshot.entries {
            let b = entry.breakdown
            append(entry.postID)
            for value in [b.score, b.recency, b.engagement, b.affinity, b.organization] { append(value.bitPattern) }
        }
        return data
    }

    static func decode(id: ID, scope: String, createdAt: Date, bytes: [UInt8]) -> RankedSnapshot {
        var snapshot = RankedSnapshot(id: id, scope: scope, createdAt: createdAt, entries: [])
        guard bytes.count >= 8, (bytes.count - 8) % entrySize == 0 else { return snapshot }
        var offset = 0
        func next() -> UInt64 {
            var value: UInt64 = 0
            for index in 0..<8 { value |= UInt64(bytes[offset + index]) << (8 * UInt64(index)) }
            offset += 8
            return value
        }
        let continuation = next()
        snapshot.continueAfter = continuation == 0 ? nil : continuation
        snapshot.entries.reserveCapacity((bytes.count - 8) / entrySize)
        while offset < bytes.count {
            let postID = next()
            let d = (0..<5).map { _ in Double(bitPattern: next()) }
            snapshot.entries.append(
                .init(
                    postID: postID,
                    breakdown: ScoreBreakdown(score: d[0], recency: d[1], engagement: d[2], affinity: d[3], organization: d[4])))
        }
        return snapshot
    }
}
