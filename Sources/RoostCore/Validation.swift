import Foundation

/// The contract's input rules, kept pure so the HTTP layer, the importer and tests share them.
public enum Validation {
    public static let textRange = 1...5000
    public static let commentRange = 1...5000
    public static let titleMax = 300
    public static let descriptionMax = 5000
    public static let bioMax = 500
    public static let displayNameMax = 50
    public static let maxTags = 10
    public static let tagRange = 1...50
    public static let maxMedia = 4
    public static let urlMax = 2048
    public static let assetTypeMax = 50
    public static let reportReasonMax = 1000

    /// Trims leading and trailing whitespace and checks the length in grapheme clusters.
    public static func text(_ raw: String, field: String, range: ClosedRange<Int>) throws(RoostError) -> String {
        let trimmed = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        let count = trimmed.count
        guard range.contains(count) else {
            throw .validation(field: field, message: "\(field) must be \(range.lowerBound)-\(range.upperBound) characters")
        }
        try rejectControlCharacters(trimmed, field: field)
        return trimmed
    }

    /// Optional text: empty after trimming means "none".
    public static func optionalText(_ raw: String?, field: String, max: Int) throws(RoostError) -> String? {
        guard let raw else { return nil }
        let trimmed = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.isEmpty { return nil }
        guard trimmed.count <= max else {
            throw .validation(field: field, message: "\(field) must be at most \(max) characters")
        }
        try rejectControlCharacters(trimmed, field: field)
        return trimmed
    }

    /// NUL and other C0 controls (but tab and newlines) break terminals, logs and some databases.
    static func rejectControlCharacters(_ text: String, field: String) throws(RoostError) {
        for scalar in text.unicodeScalars where scalar.value < 0x20 && scalar != "\n" && scalar != "\t" && scalar != "\r" {
            throw .validation(field: field, message: "\(field) contains control characters")
        }
    }

    public static func username(_ raw: String) throws(RoostError) -> String {
        let value = raw.trimmingCharacters(in: .whitespaces)
        guard (3...30).contains(value.unicodeScalars.count),
            value.unicodeScalars.allSatisfy({ isWordASCII($0) })
        else {
            throw .validation(field: "username", message: "username must be 3-30 characters of A-Z, a-z, 0-9 and _")
        }
        return value
    }

    public static func email(_ raw: String) throws(RoostError) -> String {
        let value = raw.trimmingCharacters(in: .whitespaces)
        let parts = value.split(separator: "@", omittingEmptySubsequences: false)
        guard value.count <= 254, parts.count == 2, !parts[0].isEmpty, parts[1].contains("."),
            !parts[1].hasPrefix("."), !parts[1].hasSuffix("."),
            !value.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 })
        else {
            throw .validation(field: "email", message: "email must be a valid address")
        }
        return value
    }

    public static func password(_ raw: String) throws(RoostError) -> String {
        guard raw.count >= 8 else {
            throw .validation(field: "password", message: "password must be at least 8 characters")
        }
        // bcrypt reads at most 72 bytes; longer passwords would silently share a prefix.
        guard raw.utf8.count <= 72 else {
            throw .validation(field: "password", message: "password must be at most 72 bytes")
        }
        return raw
    }

    public static func tags(_ raw: [String]?) throws(RoostError) -> [String] {
        guard let raw else { return [] }
        guard raw.count <= maxTags else {
            throw .validation(field: "tags", message: "at most \(maxTags) tags")
        }
        var seen: [String] = []
        for tag in raw {
            guard tagRange.contains(tag.unicodeScalars.count), tag.unicodeScalars.allSatisfy({ isWordASCII($0) }) else {
                throw .validation(field: "tags", message: "tags must be 1-50 characters of A-Z, a-z, 0-9 and _")
            }
            let lower = tag.lowercased()
            if !seen.contains(lower) { seen.append(lower) }
        }
        return seen
    }

    public static func url(_ raw: String, field: String) throws(RoostError) -> String {
        let value = raw.trimmingCharacters(in: .whitespaces)
        guard value.utf8.count <= urlMax, let url = URL(string: value),
            let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
            let host = url.host, !host.isEmpty
        else {
            throw .validation(field: field, message: "\(field) must be an http(s) URL")
        }
        return value
    }

    public static func media(_ raw: [Media]?) throws(RoostError) -> [Media] {
        guard let raw else { return [] }
        guard raw.count <= maxMedia else {
            throw .validation(field: "media", message: "at most \(maxMedia) media")
        }
        var result: [Media] = []
        for item in raw {
            result.append(Media(url: try url(item.url, field: "media"), type: item.type))
        }
        return result
    }

    public static func assetType(_ raw: String?) throws(RoostError) -> String? {
        guard let raw else { return nil }
        guard (1...assetTypeMax).contains(raw.unicodeScalars.count),
            raw.unicodeScalars.allSatisfy({ isWordASCII($0) || $0 == "-" })
        else {
            throw .validation(field: "asset_type", message: "asset_type must be 1-50 characters of A-Z, a-z, 0-9, _ and -")
        }
        return raw.lowercased()
    }

    /// Parses an id the way paths and bodies carry it: a decimal string of an unsigned 64-bit integer.
    public static func id(_ raw: String) -> ID? {
        guard !raw.isEmpty, raw.utf8.count <= 20, raw.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }),
            let value = UInt64(raw), value <= UInt64(Int64.max)
        else { return nil }
        return value
    }

    static func isWordASCII(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0x5F: true
        default: false
        }
    }
}
