import CoreMetrics
import Foundation
import Hummingbird
import IngestCore
import IngestEngine
import Logging
import NIOCore
import Prometheus
import Synchronization

/// `--status-addr HOST:PORT`: where the live status of a run is served. A bare port (or `:PORT`)
/// binds to loopback; port 0 picks a free one.
struct StatusAddress: Sendable, Equatable, CustomStringConvertible {
    var host: String
    var port: Int

    init?(parsing text: String) {
        var host = "127.0.0.1"
        var portText = Substring(text)
        if text.hasPrefix("[") {
            // [::1]:9100
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
            host = String(text[text.index(after: text.startIndex)..<close])
            portText = text[text.index(close, offsetBy: 2)...]
        } else if let colon = text.lastIndex(of: ":") {
            if colon != text.startIndex { host = String(text[..<colon]) }
            portText = text[text.index(after: colon)...]
        }
        guard !host.isEmpty, let port = Int(portText), (0...65535).contains(port) else { return nil }
        self.host = host
        self.port = port
    }

    var isLoopback: Bool { host == "127.0.0.1" || host == "localhost" || host == "::1" || host.hasPrefix("127.") }
    var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// What the status page and `/metrics` show of a run: the engine's counters, the transfer rate
/// over the last 30 s, the run's phase and its last failures.
final class StatusBoard: Sendable {
    struct Failure: Sendable, Encodable {
        var id: String
        var manifest: String
        var line: Int
        var code: String
        var message: String
        var at: String
    }

    let stats: IngestStats
    let provider: String
    private let started = ContinuousClock.now
    private let state = Mutex<(phase: String, rate: RateEstimate, failures: [Failure])>(("validating", RateEstimate(), []))
    static let failuresKept = 20

    init(stats: IngestStats, provider: String) {
        self.stats = stats
        self.provider = provider
    }

    var seconds: Double {
        let elapsed = ContinuousClock.now - started
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    func phase(_ phase: String) { state.withLock { $0.phase = phase } }

    /// Takes a sample for the rate (once a second, by the server).
    func sample() {
        let bytes = stats.snapshot.bytesOnWire
        let now = seconds
        state.withLock { $0.rate.add(seconds: now, bytes: bytes) }
    }

    func failed(_ outcome: ItemOutcome) {
        guard outcome.status == .failed else { return }
        let failure = Failure(
            id: outcome.item.id, manifest: outcome.item.location.manifest, line: outcome.item.location.line,
            code: outcome.error?.code ?? "?", message: outcome.error.map { "\($0.step): \($0.message)" } ?? "",
            at: ISO8601Timestamp.formatMillis(Date()))
        state.withLock {
            $0.failures.append(failure)
            if $0.failures.count > Self.failuresKept { $0.failures.removeFirst() }
        }
    }

    /// `/status.json`, and what the page and the gauges are made of.
    struct View: Sendable, Encodable {
        var provider: String
        var phase: String
        var elapsedSeconds: Double
        var items: [String: Int]
        var itemsTotal: Int
        var itemsDone: Int
        var bytesTotal: Int64
        var bytesSent: Int64
        /// Handed to the network so far (chunk by chunk, retries included).
        var bytesOnWire: Int64
        /// Over the last 30 s; nil in the first 3 s or while nothing moves.
        var bytesPerSecond: Double?
        var etaSeconds: Double?
        var inFlight: Int
        var apiCalls: Int
        var retries: Int
        var throttles: Int
        var failures: [Failure]
    }

    var view: View {
        let s = stats.snapshot
        let (phase, rate, failures) = state.withLock { ($0.phase, $0.rate, $0.failures) }
        let done = s.itemsDone
        let items = [
            "committed": s.committed, "failed": s.failed, "already_committed": s.alreadyCommitted, "duplicate": s.duplicates,
            "updated": s.updated, "changed": s.changed, "in_flight": s.inFlight,
            "pending": max(0, s.itemsTotal - done - s.inFlight),
        ]
        return View(
            provider: provider, phase: phase, elapsedSeconds: (seconds * 10).rounded() / 10, items: items, itemsTotal: s.itemsTotal,
            itemsDone: done, bytesTotal: s.bytesTotal, bytesSent: s.bytesSent, bytesOnWire: s.bytesOnWire,
            bytesPerSecond: rate.bytesPerSecond,
            etaSeconds: rate.eta(remaining: max(0, s.bytesTotal - max(s.bytesSent, s.bytesOnWire))), inFlight: s.inFlight,
            apiCalls: s.apiCalls,
            retries: s.retries, throttles: s.throttles, failures: failures.reversed())
    }
}

/// Serves `/metrics` (Prometheus text format), `/` (a page that refreshes itself every 2 s) and
/// `/status.json` while a run goes on.
enum StatusServer {
    /// The registry swift-metrics reports into once the process bootstraps it (once).
    static let registry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }()

    /// Runs `body` with the status served on `address`; `onReady` gets the URL once it listens.
    static func withRunning<T: Sendable>(
        _ address: StatusAddress, board: StatusBoard, onReady: @escaping @Sendable (String) async -> Void,
        _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        let registry = self.registry
        let router = Router()
        router.get("/metrics") { _, _ -> Response in
            updateGauges(registry, board.view)
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
        router.get("/status.json") { _, _ -> Response in
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: JSON.encode(board.view))))
        }
        router.get("/") { _, _ -> Response in
            var headers = HTTPFields()
            headers[.contentType] = "text/html; charset=utf-8"
            headers[.cacheControl] = "no-store"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: StatusPage.html(board.view))))
        }
        var logger = Logger(label: "vodingest.status")
        logger.logLevel = .critical  // its cancellation at the end of the run is not an error
        let (ready, continuation) = AsyncStream<String>.makeStream()
        let app = Application(
            router: router, configuration: .init(address: .hostname(address.host, port: address.port), serverName: "vodingest-status"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? address.port
                var bound = address
                bound.port = port
                continuation.yield("http://\(bound)/")
                continuation.finish()
            }, logger: logger)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                defer { continuation.finish() }
                try await app.runService(gracefulShutdownSignals: [])
                return nil
            }
            var iterator = ready.makeAsyncIterator()
            guard let url = await iterator.next() else {
                while try await group.next() != nil {}
                throw IngestError(code: "status.unavailable", message: "the status server stopped before it listened on \(address)")
            }
            await onReady(url)
            group.addTask {
                while true {
                    try await Task.sleep(for: .seconds(1))
                    board.sample()
                }
            }
            group.addTask { try await body() }
            while let value = try await group.next() {
                if let value {
                    group.cancelAll()
                    return value
                }
            }
            throw CancellationError()
        }
    }

    /// The run's state as gauges (items by state, totals, rate, ETA, in flight), set at each scrape.
    static func updateGauges(_ registry: PrometheusCollectorRegistry, _ view: StatusBoard.View) {
        for (state, count) in view.items {
            registry.makeGauge(name: "vodingest_items", labels: [("state", state)], help: "Items of this run by state").set(Double(count))
        }
        registry.makeGauge(name: "vodingest_items_planned", help: "Items this run has to do (known before uploading starts)")
            .set(Double(view.itemsTotal))
        registry.makeGauge(name: "vodingest_bytes_planned", help: "Bytes this run has to send").set(Double(view.bytesTotal))
        registry.makeGauge(name: "vodingest_in_flight_items", help: "Items being uploaded now").set(Double(view.inFlight))
        registry.makeGauge(name: "vodingest_upload_bytes_per_second", help: "Upload rate over the last 30 s")
            .set(view.bytesPerSecond ?? 0)
        registry.makeGauge(name: "vodingest_eta_seconds", help: "Estimated seconds to the end of the uploads (-1: not known yet)")
            .set(view.etaSeconds ?? -1)
        registry.makeGauge(name: "vodingest_wire_bytes", help: "Bytes handed to the network so far, retried ones included")
            .set(Double(view.bytesOnWire))
        registry.makeGauge(name: "vodingest_elapsed_seconds", help: "Seconds since the run started").set(view.elapsedSeconds)
    }
}

/// The status page: plain HTML that refreshes itself, no script, no external resource.
enum StatusPage {
    static func html(_ v: StatusBoard.View) -> String {
        func escape(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
        }
        let rate = v.bytesPerSecond.map { ByteSize.format(Int64($0)) + "/s" } ?? "measuring"
        let eta = v.etaSeconds.map(formatDuration) ?? "not known yet"
        let moved = min(v.bytesTotal, max(v.bytesSent, v.bytesOnWire))
        let percent = v.bytesTotal > 0 ? Int(Double(moved) * 100 / Double(v.bytesTotal)) : 0
        var rows = ""
        for state in ["committed", "failed", "in_flight", "pending", "already_committed", "duplicate", "updated", "changed"] {
            rows +=
                "<tr><th>\(state.replacingOccurrences(of: "_", with: " "))</th><td id=\"items-\(state)\">\(v.items[state] ?? 0)</td></tr>"
        }
        var failures = ""
        for f in v.failures {
            failures +=
                "<tr><td>\(escape(f.at))</td><td>\(escape(f.id))</td><td>\(escape(f.manifest)):\(f.line)</td>"
                + "<td>\(escape(f.code))</td><td>\(escape(f.message))</td></tr>"
        }
        return """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="2">
            <title>vodingest: \(v.itemsDone)/\(v.itemsTotal) items</title>
            <style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}
            th,td{border:1px solid #ccc;padding:3px 8px;text-align:left}th{background:#f3f3f3}
            progress{width:30em}.failed{background:#fde8e8}</style></head><body>
            <h1>vodingest ingest: <span id="phase">\(escape(v.phase))</span></h1>
            <p>Provider <b>\(escape(v.provider))</b>, running for \(formatDuration(v.elapsedSeconds)).</p>
            <p><progress max="100" value="\(percent)"></progress> <span id="percent">\(percent)%</span></p>
            <table>
            <tr><th>items done</th><td id="items-done">\(v.itemsDone) of <span id="items-total">\(v.itemsTotal)</span></td></tr>
            <tr><th>bytes sent</th><td id="bytes">\(ByteSize.format(moved)) of \(ByteSize.format(v.bytesTotal)) (\(ByteSize.format(v.bytesSent)) in finished parts)</td></tr>
            <tr><th>rate (last 30 s)</th><td id="rate">\(rate)</td></tr>
            <tr><th>ETA</th><td id="eta">\(eta)</td></tr>
            <tr><th>API calls</th><td id="api-calls">\(v.apiCalls)</td></tr>
            <tr><th>retries</th><td id="retries">\(v.retries)</td></tr>
            <tr><th>throttled</th><td id="throttles">\(v.throttles)</td></tr>
            </table>
            <h2>Items by state</h2><table>\(rows)</table>
            <h2>Last failures</h2>
            \(failures.isEmpty ? "<p id=\"failures\">none</p>" : "<table id=\"failures\" class=\"failed\"><tr><th>at</th><th>id</th><th>row</th><th>code</th><th>message</th></tr>\(failures)</table>")
            <p>Metrics: <a href="/metrics">/metrics</a> (Prometheus), <a href="/status.json">/status.json</a>.</p>
            </body></html>

            """
    }
}
