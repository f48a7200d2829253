import Foundation
import RoostCore

/// SplitMix64: a small, fast, seedable generator. The bench draws every random choice from it
/// (never from the system generator), so a seed names one data set.
struct SplitMix64 {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    /// A generator for one stream (`stream`) and one item (`index`) of the data set, so each user's
    /// follows and each post are the same whatever the batching or the order of generation.
    init(seed: UInt64, stream: UInt64, index: Int) {
        var mixer = SplitMix64(seed: seed ^ (stream &* 0xD1B5_4A32_D192_ED03))
        state = mixer.next() ^ (UInt64(index) &* 0x9E37_79B9_7F4A_7C15)
        _ = next()
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    mutating func nextDouble() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// Uniform in 0..<n (multiply-shift; the bias is below 2^-40 for the sizes used here).
    mutating func next(below n: Int) -> Int {
        precondition(n > 0)
        return Int(next().multipliedFullWidth(by: UInt64(n)).high)
    }
}

/// Draws an index with probability proportional to its weight (binary search in prefix sums).
struct WeightedSampler: Sendable {
    private let prefix: [Double]

    init(weights: [Double]) {
        var prefix = [Double]()
        prefix.reserveCapacity(weights.count)
        var total = 0.0
        for weight in weights {
            total += weight
            prefix.append(total)
        }
        self.prefix = prefix
    }

    var total: Double { prefix.last ?? 0 }

    func sample(_ uniform: Double) -> Int {
        let target = uniform * total
        var low = 0
        var high = prefix.count - 1
        while low < high {
            let mid = (low + high) / 2
            if prefix[mid] > target { high = mid } else { low = mid + 1 }
        }
        return low
    }
}

/// The sizes of a synthetic data set and the fan-out policy it is measured with.
struct BenchShape: Sendable {
    var users: Int
    var avgFollows: Int
    var posts: Int
    var days: Int
    var celebrities: Int
    var seed: UInt64

    /// The server's celebrity threshold (10,000) from 20,000 users up; smaller below (a tenth of
    /// the users, but well above the mean follower count), so small smoke runs still exercise the
    /// pull-only path.
    var celebrityThreshold: Int {
        users >= 20_000 ? FanOutPolicy().celebrityThreshold : min(users / 2, max(users / 10, 3 * avgFollows))
    }
    /// Followers of the "ordinary author" whose posts are timed (5,000 at full size).
    var ordinaryAuthorFollowers: Int { users >= 20_000 ? 5_000 : max(5, users / 20) }
    /// Scale of the data set relative to the default 100,000 users.
    var scale: Double { Double(users) / 100_000 }
}

/// A deterministic social graph: users, power-law follows with a handful of celebrities, and
/// posts by power-law authors spread over `days`. Nothing is stored here but the distributions;
/// rows are generated batch by batch, each user and post from its own seeded stream.
struct SyntheticGraph: Sendable {
    let shape: BenchShape
    /// Popularity rank → user index. Ranks below `celebrities` are the celebrities, users 0…; the
    /// other ranks are a seeded shuffle of the remaining users.
    let rankToUser: [Int32]
    /// Probability that any one user follows celebrity c.
    let celebrityFractions: [Double]
    /// Popularity weights of the non-celebrity ranks (Zipf–Mandelbrot, exponent 1).
    let followeeSampler: WeightedSampler
    /// Zipf offset of the followee distribution (flattens the head so the top ordinary account
    /// stays below the celebrity threshold).
    let followeeOffset: Double
    /// Mean number of non-celebrity accounts each user follows.
    let ordinaryFollowsMean: Double
    /// Activity weights of authors by popularity rank.
    let authorSampler: WeightedSampler
    /// Post texts (8–35 words); each post picks one, so generating a post costs no string work.
    let texts: [String]

    /// Milliseconds since the id epoch (`IDGenerator.epochMillis`).
    let userBaseMillis: UInt64
    let followBaseMillis: UInt64
    let postStartMillis: UInt64
    let postSpanMillis: UInt64

    var celebrities: Int { min(shape.celebrities, shape.users) }

    init(shape: BenchShape, now: Date = Date()) {
        self.shape = shape
        let users = shape.users
        let celebrities = min(shape.celebrities, users)
        let ordinary = max(1, users - celebrities)

        // Popularity order.
        var rest = Array(Int32(celebrities)..<Int32(users))
        var shuffle = SplitMix64(seed: shape.seed, stream: 0, index: 0)
        if rest.count > 1 {
            for i in stride(from: rest.count - 1, to: 0, by: -1) {
                rest.swapAt(i, shuffle.next(below: i + 1))
            }
        }
        rankToUser = Array(Int32(0)..<Int32(celebrities)) + rest

        // Celebrities: half of everyone follows the biggest, then a slow decline; each stays at
        // least 1.5× above the threshold.
        let threshold = Double(shape.celebrityThreshold)
        celebrityFractions = (0..<celebrities).map { c in
            min(0.9, max(0.5 / pow(Double(c + 1), 0.7), 1.5 * threshold / Double(users)))
        }
        let celebrityFollows = celebrityFractions.reduce(0, +)
        ordinaryFollowsMean = max(1, Double(shape.avgFollows) - celebrityFollows)

        // Ordinary accounts: weight 1/(rank + offset). Choose the offset so the most followed
        // ordinary account expects ~80% of the celebrity threshold.
        let expectedOrdinaryFollows = ordinaryFollowsMean * Double(users)
        let topTarget = 0.8 * threshold
        func expectedTop(_ offset: Double) -> Double {
            // Σ 1/(r + offset), r = 1…n ≈ ln((n + offset + 0.5) / (offset + 0.5))
            let total = log((Double(ordinary) + offset + 0.5) / (offset + 0.5))
            return expectedOrdinaryFollows / (1 + offset) / total
        }
        var offset = 0.0
        if expectedTop(0) > topTarget {
            var low = 0.0
            var high = Double(ordinary)
            for _ in 0..<60 {
                let mid = (low + high) / 2
                if expectedTop(mid) > topTarget { low = mid } else { high = mid }
            }
            offset = high
        }
        followeeOffset = offset
        followeeSampler = WeightedSampler(weights: (0..<ordinary).map { 1 / (Double($0) + 1 + offset) })

        // Authors: everyone, by popularity, weight 1/(rank + 50).
        authorSampler = WeightedSampler(weights: (0..<users).map { 1 / (Double($0) + 50) })
        texts = (0..<4_096).map { k in
            var random = SplitMix64(seed: shape.seed, stream: 3, index: k)
            let wordCount = 8 + random.next(below: 28)
            return (0..<wordCount).map { _ in Self.words[random.next(below: Self.words.count)] }.joined(separator: " ")
        }

        // Time line: users are created first, then the follows, then posts over `days` ending a
        // minute ago. All ids are snowflakes after the id epoch.
        let nowMillis = UInt64(max(0, now.timeIntervalSince1970 * 1000)) &- IDGenerator.epochMillis
        let span = UInt64(max(1, shape.days)) * 86_400_000
        let needed = UInt64(users) + 2 * 86_400_000 + UInt64(users) + span + 60_000
        let end = max(nowMillis, needed) - 60_000
        postStartMillis = end - span
        postSpanMillis = span
        followBaseMillis = postStartMillis - 86_400_000 - UInt64(users)
        userBaseMillis = followBaseMillis - 86_400_000 - UInt64(users)
    }

    // MARK: Rows

    func userID(_ index: Int) -> ID { (userBaseMillis + UInt64(index)) << 22 }

    static func date(millis: UInt64) -> Date {
        // Half a millisecond in, so a store that rounds down to milliseconds gets this one back.
        Date(timeIntervalSince1970: (Double(millis + IDGenerator.epochMillis) + 0.5) / 1000)
    }

    static func username(_ index: Int) -> String { "bench\(index)" }

    func users(_ range: Range<Int>) -> [NewUser] {
        range.map { i in
            NewUser(
                id: userID(i), username: Self.username(i), email: "bench\(i)@example.invalid", displayName: "Bench User \(i)",
                passwordHash: nil, createdAt: Self.date(millis: userBaseMillis + UInt64(i)))
        }
    }

    typealias FollowRow = (follower: ID, followee: ID, id: ID, createdAt: Date)

    /// The accounts user `u` follows (user indices, no duplicates, never `u`).
    func followees(of u: Int) -> [Int32] {
        var random = SplitMix64(seed: shape.seed, stream: 1, index: u)
        var chosen: [Int32] = []
        for c in 0..<celebrities where c != u && random.nextDouble() < celebrityFractions[c] {
            chosen.append(Int32(c))
        }
        let ordinary = shape.users - celebrities
        guard ordinary > 1 else { return chosen }
        // Out-degree: exponential around the mean, at least one, at most 20× the mean.
        let draw = -log(1 - random.nextDouble()) * ordinaryFollowsMean
        let degree = max(1, min(Int(draw.rounded()), min(ordinary - 1, Int(20 * ordinaryFollowsMean))))
        var seen = Set<Int32>(minimumCapacity: degree)
        var attempts = 0
        while seen.count < degree, attempts < degree * 8 {
            attempts += 1
            let v = rankToUser[celebrities + followeeSampler.sample(random.nextDouble())]
            if Int(v) != u { seen.insert(v) }
        }
        chosen += seen.sorted()
        return chosen
    }

    /// Follows of every user in `range`: a follow of user u is dated u ms after the follow base,
    /// its id a snowflake of that millisecond and its rank among u's follows.
    func follows(_ range: Range<Int>) -> [FollowRow] {
        var rows: [FollowRow] = []
        rows.reserveCapacity(range.count * (shape.avgFollows + 2))
        for u in range {
            let millis = followBaseMillis + UInt64(u)
            let created = Self.date(millis: millis)
            let follower = userID(u)
            for (j, v) in followees(of: u).enumerated() {
                rows.append((follower, userID(Int(v)), (millis << 22) | UInt64(j & 0x3F_FFFF), created))
            }
        }
        return rows
    }

    static let words = [
        "roost", "morning", "coffee", "river", "build", "ship", "garden", "city", "train", "music", "photo", "night",
        "friends", "weekend", "launch", "story", "swift", "server", "feed", "bird", "sunset", "walk", "book", "idea",
        "team", "design", "market", "rain", "summer", "winter", "code", "release", "today", "finally", "new", "great",
        "quiet", "loud", "small", "big", "first", "last", "again", "always", "never", "maybe", "really", "just",
        "thanks", "everyone", "here", "there", "home", "work", "travel", "food", "game", "match", "goal", "news",
        "update", "thread", "question", "answer",
    ]

    /// Posts `range` of the data set, oldest first, evenly spread over the span.
    func posts(_ range: Range<Int>) -> [Post] {
        let count = UInt64(max(1, shape.posts))
        return range.map { j in
            var random = SplitMix64(seed: shape.seed, stream: 2, index: j)
            let author = Int(rankToUser[authorSampler.sample(random.nextDouble())])
            let millis = postStartMillis + UInt64(j) * postSpanMillis / count
            let created = Self.date(millis: millis)
            return Post(
                id: (millis << 22) | UInt64(j & 0x3F_FFFF), authorID: userID(author), text: texts[random.next(below: texts.count)],
                createdAt: created, updatedAt: created)
        }
    }
}
