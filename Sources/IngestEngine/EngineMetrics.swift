import CoreMetrics

/// What the engine counts through swift-metrics, for whichever backend the process bootstrapped
/// (the CLI's `--status-addr` serves them in the Prometheus format). Without a backend these are
/// no-ops. Every name starts with `vodingest_`.
public enum EngineMetrics {
    /// Bytes of media, covers and package files handed to the network.
    public static let bytesSent = Counter(label: "vodingest_bytes_sent_total")

    /// One API request of `action` (ApplyUpload, CreateUploadVideo, ...), retries included.
    static func apiCall(_ action: String) {
        Counter(label: "vodingest_api_calls_total", dimensions: [("action", action)]).increment()
    }

    /// A throttled answer: the API action's (RequestLimitExceeded, Throttling.User) or `storage` (SlowDown).
    static func throttled(_ action: String) {
        Counter(label: "vodingest_throttles_total", dimensions: [("action", action)]).increment()
    }

    /// A retried request, by the error that made it retry (`InternalError`, `SlowDown`, `network.timeout`, ...).
    static func retried(_ code: String) {
        Counter(label: "vodingest_retries_total", dimensions: [("code", code)]).increment()
    }
}
