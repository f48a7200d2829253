import Metrics
import Prometheus
import Synchronization

/// Every metric Roost exports, named in one place, and the Prometheus registry `/metrics` reads.
public enum RoostMetrics {
    /// Hot-read cache lookups served from memory / loaded from the database, by `cache`.
    static let cacheHits = "roost_cache_hits_total"
    static let cacheMisses = "roost_cache_misses_total"
    /// Aged entries served while one reader recomputes them in the background, by `cache`: a hit
    /// for the reader, a recomputation for the server.
    static let cacheRefreshes = "roost_cache_refreshes_total"
    /// Aged entries found unchanged (none of their parts changed) and served on without a
    /// recomputation, by `cache`.
    static let cacheRenewals = "roost_cache_renewals_total"
    /// Fan-out jobs waiting or running (gauge), and the age in seconds of the oldest (gauge).
    static let fanOutQueueDepth = "roost_fanout_queue_depth"
    static let fanOutQueueLag = "roost_fanout_queue_lag_seconds"
    /// Timeline entries written or purged by fan-out (counter).
    static let fanOutEntries = "roost_fanout_entries_total"
    /// Time from post creation to the end of its fan-out (timer).
    static let fanOutDelivery = "roost_fanout_delivery_seconds"
    /// Fan-out jobs that failed and were rescheduled (counter).
    static let fanOutFailures = "roost_fanout_failures_total"
    /// Timelines rebuilt by pull for returning users (counter).
    static let timelineRebuilds = "roost_timeline_rebuilds_total"
    /// Maintenance runs by `task` (counter) and entries they removed (counter).
    static let maintenanceRuns = "roost_maintenance_runs_total"
    static let maintenanceRemoved = "roost_maintenance_removed_total"
    /// Requests refused by a rate limit, by `category` (counter).
    static let rateLimited = "roost_rate_limited_total"
    /// New posts by the moderation pipeline's verdict, by `status` (counter).
    static let moderationVerdicts = "roost_moderation_verdicts_total"
    /// Moderation decisions on posts, by `action` and `by` (`auto`, `moderator`) (counter).
    static let moderationDecisions = "roost_moderation_decisions_total"
    /// Reports filed, by `kind` (`post`, `comment`, `user`) (counter).
    static let reportsFiled = "roost_reports_filed_total"
    /// Searches, by `type` (`posts`, `users`) (counter).
    static let searchQueries = "roost_search_queries_total"
    /// Open realtime streams by `transport` (`websocket`, `sse`) (gauge).
    static let streamConnections = "roost_stream_connections"
    /// Streams dropped because the client fell a full outbound buffer behind, by `transport` (counter).
    static let streamDroppedClients = "roost_stream_dropped_clients_total"
    /// Streams ended, by `transport` and `reason` (counter).
    static let streamDisconnects = "roost_stream_disconnects_total"
    /// Time to route and queue one batch of realtime events (timer).
    static let streamDispatch = "roost_stream_dispatch_seconds"
    /// Events refused by a full internal queue, by `queue` (`dispatch`, `notifications`) (counter).
    static let eventsDropped = "roost_events_dropped_total"
    /// Notifications stored, by `type` (counter), and changes whose notifications failed (counter).
    static let notificationsCreated = "roost_notifications_created_total"
    static let notificationFailures = "roost_notification_failures_total"
    /// `NOTIFY` payloads between nodes on PostgreSQL, by `direction` (`sent`, `received`) (counter).
    static let peerPayloads = "roost_peer_payloads_total"
    /// Messages between nodes lost, by `kind` (`send`, `listen`, `outbox_full`); receivers then
    /// drop their caches (counter).
    static let peerFailures = "roost_peer_failures_total"

    /// One registry per process: swift-metrics can be bootstrapped only once, so servers started
    /// by tests in the same process share it.
    public static let registry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }()
}
