import Foundation

/// The contract's scoring formulas, with their weights in configuration (`RankingWeights`).
/// Pure functions of a post's counts and age, so scores can be materialized in batches and
/// explained to users (`ScoreBreakdown` becomes the `reasons` object).
public struct RankingWeights: Sendable, Equatable {
    // trending: (likes + 2·comments + 0.1·views) / max(age_hours, 0.1)^1.5, ×1.5 when featured
    public var trendingLike = 1.0
    public var trendingComment = 2.0
    public var trendingView = 0.1
    public var trendingGravity = 1.5
    public var trendingMinAgeHours = 0.1
    public var featuredBoost = 1.5
    // engagement: (likes + 2·comments + 3·shares) · 1/(1 + age_hours/24)
    public var engagementLike = 1.0
    public var engagementComment = 2.0
    public var engagementShare = 3.0
    public var engagementHalfLifeHours = 24.0
    // mixed: recency 0–10 (decays over 7 days) + engagement 0–5 + organization relevance 0–5
    public var mixedRecencyMax = 10.0
    public var mixedRecencyDays = 7.0
    public var mixedEngagementMax = 5.0
    /// Engagement score at which the mixed engagement part reaches half its maximum.
    public var mixedEngagementScale = 10.0
    public var mixedOrganizationMax = 5.0

    public init() {}
}

/// The parts a ranked score was made of (the `reasons` of a ranked post).
public struct ScoreBreakdown: Sendable, Equatable {
    public var score: Double
    public var recency: Double
    public var engagement: Double
    public var affinity: Double
    public var organization: Double

    public init(score: Double, recency: Double = 0, engagement: Double = 0, affinity: Double = 0, organization: Double = 0) {
        self.score = score
        self.recency = recency
        self.engagement = engagement
        self.affinity = affinity
        self.organization = organization
    }
}

public enum FeedAlgorithm: String, Sendable, CaseIterable {
    case chronological, engagement, personalized, mixed
}

public enum Ranking {
    public static func ageHours(_ post: Post, now: Date) -> Double {
        max(0, now.timeIntervalSince(post.createdAt) / 3600)
    }

    public static func trending(_ post: Post, now: Date, weights: RankingWeights = .init()) -> Double {
        let interactions =
            weights.trendingLike * Double(post.likeCount) + weights.trendingComment * Double(post.commentCount)
            + weights.trendingView * Double(post.viewCount)
        let score = interactions / pow(max(ageHours(post, now: now), weights.trendingMinAgeHours), weights.trendingGravity)
        return post.isFeatured ? score * weights.featuredBoost : score
    }

    public static func engagement(_ post: Post, now: Date, weights: RankingWeights = .init()) -> Double {
        let interactions =
            weights.engagementLike * Double(post.likeCount) + weights.engagementComment * Double(post.commentCount)
            + weights.engagementShare * Double(post.shareCount)
        return interactions / (1 + ageHours(post, now: now) / weights.engagementHalfLifeHours)
    }

    /// - Parameter affinity: the viewer's affinity to the author, 0...1.
    public static func breakdown(
        _ post: Post, algorithm: FeedAlgorithm, now: Date, affinity: Double = 0, organizationRelevance: Double = 0,
        weights: RankingWeights = .init()
    ) -> ScoreBreakdown {
        let engagement = engagement(post, now: now, weights: weights)
        switch algorithm {
        case .chronological:
            return ScoreBreakdown(score: 0)
        case .engagement:
            return ScoreBreakdown(score: engagement, engagement: engagement)
        case .personalized:
            let clamped = min(max(affinity, 0), 1)
            return ScoreBreakdown(score: engagement * (1 + clamped), engagement: engagement, affinity: engagement * clamped)
        case .mixed:
            let ageDays = ageHours(post, now: now) / 24
            let recency = weights.mixedRecencyMax * max(0, 1 - ageDays / weights.mixedRecencyDays)
            // Saturating map of engagement onto 0...max so one viral post cannot drown recency.
            let engagementPart = weights.mixedEngagementMax * engagement / (engagement + weights.mixedEngagementScale)
            let organization = weights.mixedOrganizationMax * min(max(organizationRelevance, 0), 1)
            return ScoreBreakdown(
                score: recency + engagementPart + organization, recency: recency, engagement: engagementPart,
                organization: organization)
        }
    }

    /// Affinity 0...1 from the viewer's recent interactions with an author (likes and comments in
    /// the last 30 days): saturates so that ten interactions is close to full affinity.
    public static func affinity(interactions: Int) -> Double {
        let count = Double(max(0, interactions))
        return count / (count + 3)
    }
}
