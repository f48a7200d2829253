import Foundation
import NIOCore
import RoostCore

/// One event as it goes out, encoded once and shared by every connection that receives it
/// (`ByteBuffer` storage is reference-counted, so a thousand recipients cost one copy).
struct StreamFrame: Sendable {
    /// The SSE event id (`Last-Event-ID`); nil for frames that are not events (heartbeats).
    var id: ID?
    /// A WebSocket text message: the event's JSON.
    var webSocket: ByteBuffer
    /// The same event as an SSE message: `id: …` and one `data:` line (JSON never contains a raw newline).
    var sse: ByteBuffer

    func bytes(for transport: StreamConnection.Transport) -> ByteBuffer {
        transport == .webSocket ? webSocket : sse
    }

    /// An event with its id. `json` is a single-line JSON object.
    static func event(id: ID, json: [UInt8]) -> StreamFrame {
        var sse = ByteBuffer()
        sse.reserveCapacity(json.count + 32)
        sse.writeString("id: \(id)\ndata: ")
        sse.writeBytes(json)
        sse.writeString("\n\n")
        return StreamFrame(id: id, webSocket: ByteBuffer(bytes: json), sse: sse)
    }

    /// A message that is not an event: no id, never replayed.
    static func message(json: [UInt8]) -> StreamFrame {
        var sse = ByteBuffer(string: "data: ")
        sse.writeBytes(json)
        sse.writeString("\n\n")
        return StreamFrame(id: nil, webSocket: ByteBuffer(bytes: json), sse: sse)
    }

    static let heartbeat = StreamFrame(
        id: nil, webSocket: ByteBuffer(string: #"{"event":"heartbeat"}"#), sse: ByteBuffer(string: ": heartbeat\n\n"))

    /// The first bytes of an SSE stream: the reconnection delay for `EventSource` and a comment,
    /// so the client sees the stream open at once.
    static let sseOpening = ByteBuffer(string: "retry: 3000\n: connected\n\n")
}

/// The JSON of the contract's stream events. The envelope is written by hand so `event` always
/// comes first; what it wraps is encoded with the same representations as the HTTP API.
enum StreamEventJSON {
    static func postCreated(_ post: PostBody) throws -> [UInt8] {
        envelope("post.created", "post", try JSONEncoder().encode(post))
    }

    static func postDeleted(_ postID: ID) -> [UInt8] {
        Array(#"{"event":"post.deleted","post_id":"\#(postID)"}"#.utf8)
    }

    static func postCounts(postID: ID, likes: Int, comments: Int, shares: Int) -> [UInt8] {
        Array(
            #"{"event":"post.counts","post_id":"\#(postID)","like_count":\#(likes),"comment_count":\#(comments),"share_count":\#(shares)}"#
                .utf8)
    }

    static func notification(_ notification: NotificationBody) throws -> [UInt8] {
        envelope("notification", "notification", try JSONEncoder().encode(notification))
    }

    /// The answer to a WebSocket `subscribe` / `unsubscribe`: the post ids now (un)subscribed.
    static func subscriptionChanged(_ event: String, postIDs: [ID]) -> [UInt8] {
        let ids = postIDs.map { "\"\($0)\"" }.joined(separator: ",")
        return Array(#"{"event":"\#(event)","post_ids":[\#(ids)]}"#.utf8)
    }

    /// An error about something the client sent; the stream stays open.
    static func error(code: String, message: String) -> [UInt8] {
        let body = (try? JSONEncoder().encode(["code": code, "message": message])) ?? Data(#"{"code":"internal"}"#.utf8)
        return envelope("error", "error", body)
    }

    /// The last message before the server ends a stream (SSE; WebSocket uses the close frame).
    static func closed(_ reason: StreamConnection.CloseReason) -> [UInt8] {
        Array(#"{"event":"closed","reason":"\#(reason.rawValue)"}"#.utf8)
    }

    private static func envelope(_ event: String, _ key: String, _ payload: Data) -> [UInt8] {
        var out = Array(#"{"event":"\#(event)","\#(key)":"#.utf8)
        out.reserveCapacity(out.count + payload.count + 1)
        out += payload
        out.append(UInt8(ascii: "}"))
        return out
    }
}
