import CoreMetrics

/// swift-metrics instruments (`credit-meter run` bootstraps swift-prometheus as the backend).
/// Record, credit and alert counts are exported from `ServiceStatus` instead: exact, and per
/// service rather than per process.
struct ServiceMetrics {
    let snapshotDuration = Timer(label: "credit_meter_snapshot_duration_seconds")
    let snapshotBytes = Gauge(label: "credit_meter_snapshot_bytes")
}
