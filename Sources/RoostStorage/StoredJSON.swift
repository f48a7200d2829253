import Foundation
import RoostCore

/// Tags and media are stored as small JSON arrays in a text column on both backends.
enum StoredJSON {
    static func encode(_ tags: [String]) -> String {
        // Tags are validated to [a-z0-9_], so no escaping is needed.
        "[" + tags.map { "\"\($0)\"" }.joined(separator: ",") + "]"
    }

    static func encode(_ media: [Media]) -> String {
        guard !media.isEmpty, let data = try? JSONEncoder().encode(media) else { return "[]" }
        return String(decoding: data, as: UTF8.self)
    }

    static func tags(_ text: String?) -> [String] {
        guard let text, text.count > 2 else { return [] }
        return (try? JSONDecoder().decode([String].self, from: Data(text.utf8))) ?? []
    }

    static func media(_ text: String?) -> [Media] {
        guard let text, text.count > 2 else { return [] }
        return (try? JSONDecoder().decode([Media].self, from: Data(text.utf8))) ?? []
    }
}

extension Date {
    /// Milliseconds since 1970, the storage format of every timestamp on both backends.
    public var millis: Int64 { Int64((timeIntervalSince1970 * 1000).rounded(.down)) }

    public init(millis: Int64) {
        self.init(timeIntervalSince1970: Double(millis) / 1000)
    }

    /// The same instant as it reads back from storage.
    public var roundedToMillis: Date { Date(millis: millis) }
}

extension Post {
    /// The post as it reads back from storage (timestamps at millisecond precision).
    var roundedToMillis: Post {
        var copy = self
        copy.createdAt = createdAt.roundedToMillis
        copy.updatedAt = updatedAt.roundedToMillis
        return copy
    }
}
