import Metrics
import Prometheus
import Synchronization

/// Every metric Roost exports, named in one place, and the Prometheus registry `/metrics` reads.
public enum RoostMetrics {
    /// One registry per process: swift-metrics can be bootstrapped only once, so servers started
    /// by tests in the same process share it.
    public static let registry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }()
}
