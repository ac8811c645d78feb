import Foundation
import IngestCore
import Synchronization

/// Run-wide settings of an ingest.
public struct IngestOptions: Sendable {
    /// Items in flight at once (`--concurrency`).
    public var concurrency: Int
    /// API requests per second, shared by all items (`--api-rate`).
    public var apiRate: Double
    /// Attempts of one step before the item fails with the step's last error.
    public var maxAttempts: Int
    /// Sessions (prepare) one item may use: a session that expires mid-way is replaced, this often.
    public var maxSessions: Int
    /// Stop taking new items after this many failures (`--max-failures`); nil: never.
    public var maxFailures: Int?
    public var procedure: String?
    public var storageRegion: String?
    public var classID: Int?
    /// Names the run in generated SourceContexts.
    public var runID: String

    public init(
        concurrency: Int = 8, apiRate: Double = 100, maxAttempts: Int = 6, maxSessions: Int = 3, maxFailures: Int? = nil,
        procedure: String? = nil, storageRegion: String? = nil, classID: Int? = nil, runID: String
    ) {
        self.concurrency = max(1, concurrency)
        self.apiRate = apiRate
        self.maxAttempts = max(1, maxAttempts)
        self.maxSessions = max(1, maxSessions)
        self.maxFailures = maxFailures
        self.procedure = procedure
        self.storageRegion = storageRegion
        self.classID = classID
        self.runID = runID
    }
}

/// What happened to one item.
public struct ItemOutcome: Sendable {
    public enum Status: String, Sendable, Codable {
        case committed
        case failed
        /// Not attempted: the run stopped first (too many failures, or a fatal error).
        case skipped
    }

    public var item: IngestItem
    public var status: Status
    public var remote: RemoteMedia?
    public var error: ProviderError?
    /// Attempts over all steps (1 when every step worked the first time).
    public var attempts: Int
    /// The last platform request id seen for the item.
    public var requestID: String?
}

/// Counters every view of progress reads (terminal line, summary).
public final class IngestStats: Sendable {
    public struct Snapshot: Sendable, Codable {
        public var itemsTotal = 0
        public var bytesTotal: Int64 = 0
        public var committed = 0
        public var failed = 0
        public var skipped = 0
        public var bytesSent: Int64 = 0
        public var apiCalls = 0
        public var retries = 0
        public var throttles = 0

        /// `items` and `bytes` in summary.json.
        enum CodingKeys: String, CodingKey {
            case itemsTotal = "items", bytesTotal = "bytes"
            case committed, failed, skipped, bytesSent, apiCalls, retries, throttles
        }
    }

    private let state = Mutex(Snapshot())

    public init(items: Int, bytes: Int64) {
        state.withLock {
            $0.itemsTotal = items
            $0.bytesTotal = bytes
        }
    }

    public var snapshot: Snapshot { state.withLock { $0 } }
    func update(_ change: (inout Snapshot) -> Void) { state.withLock { change(&$0) } }
}

/// Runs the server-upload flow for many items in parallel under the run's limits: bounded items in
/// flight, one shared API token bucket (AIMD on throttling), retries with backoff per step, a fresh
/// session when one expires, and a stop after too many failures or a fatal error. Cancellation
/// stops the run and is never reported as an item failure.
public struct IngestRunner: Sendable {
    public let options: IngestOptions
    public let limiter: RateLimiter
    public let stats: IngestStats

    public init(options: IngestOptions, stats: IngestStats) {
        self.options = options
        self.limiter = RateLimiter(rate: options.apiRate)
        self.stats = stats
    }

    /// Why the run stopped taking items, if it did.
    public struct Stop: Sendable {
        public var reason: String
        public var fatal: ProviderError?
    }

    /// Uploads `items`; `onOutcome` gets each item's outcome as it ends (committed, failed, or skipped).
    /// - Returns: why the run stopped early, or nil when every item was attempted.
    public func run(
        _ items: [IngestItem], provider: any VODProvider, onOutcome: @escaping @Sendable (ItemOutcome) async -> Void
    ) async throws -> Stop? {
        let stop = Shared<Stop?>(nil)
        try await withThrowingTaskGroup(of: Void.self) { group in
            var next = 0
            func startNext() -> Bool {
                guard next < items.count else { return false }
                let item = items[next]
                next += 1
                group.addTask {
                    if stop.withLock({ $0 }) != nil {
                        stats.update { $0.skipped += 1 }
                        await onOutcome(ItemOutcome(item: item, status: .skipped, attempts: 0))
                        return
                    }
                    let outcome = try await ingest(item, provider: provider)
                    if outcome.status == .failed {
                        let counts = stats.snapshot
                        let failures = counts.failed
                        if let error = outcome.error, error.disposition == .abortRun {
                            stop.withLock { $0 = $0 ?? Stop(reason: "the platform refused the account or the request: \(error)", fatal: error) }
                        } else if let error = outcome.error, error.isUnreachable, counts.committed == 0,
                            failures >= Swift.min(options.concurrency, Self.unreachableAfter)
                        {
                            // Every item so far failed to reach the platform: stop instead of trying each one.
                            stop.withLock {
                                $0 = $0 ?? Stop(reason: "the platform cannot be reached: \(failures) items failed with \(error.code) (\(error.message)) "
                                    + "and none was committed; check the endpoint and the network, then run again")
                            }
                        } else if let max = options.maxFailures, failures >= max {
                            stop.withLock { $0 = $0 ?? Stop(reason: "\(failures) items failed (--max-failures \(max))") }
                        }
                    }
                    await onOutcome(outcome)
                }
                return true
            }
            for _ in 0..<options.concurrency where startNext() {}
            while try await group.next() != nil { _ = startNext() }
        }
        return stop.withLock { $0 }
    }

    /// Items failing with network errors, none committed, after which the run stops as unreachable.
    static let unreachableAfter = 3

    /// A value several tasks read and write under a lock.
    final class Shared<Value: Sendable>: Sendable {
        private let mutex: Mutex<Value>
        init(_ value: Value) { mutex = Mutex(value) }
        func withLock<R: Sendable>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
    }

    /// A step that must start over from prepare.
    private struct RenewSession: Error { let cause: ProviderError }

    func sourceContext(for item: IngestItem) -> String {
        if let given = item.sourceContext { return given }
        let token = "vodingest:\(options.runID):\(item.id)"
        if token.count <= 250 { return token }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a, stable across runs
        for b in item.id.utf8 { hash = (hash ^ UInt64(b)) &* 0x100_0000_01b3 }
        return "vodingest:\(options.runID):id-fnv1a-\(String(hash, radix: 16))"
    }

    func ingest(_ item: IngestItem, provider: any VODProvider) async throws -> ItemOutcome {
        let request = UploadRequest(
            item: item, sourceContext: sourceContext(for: item), procedure: options.procedure,
            storageRegion: options.storageRegion, classID: options.classID)
        var attempts = 0
        var lastRequestID: String? = nil
        var sessions = 0
        while true {
            sessions += 1
            do {
                let session = try await step(api: true, attempts: &attempts) { try await provider.prepare(request) }
                lastRequestID = session.requestID
                try await step(api: false, attempts: &attempts) {
                    try await provider.transfer(file: item.media, to: session.media, session: session) { bytes in
                        stats.update { $0.bytesSent += bytes }
                    }
                }
                if let cover = item.cover, let location = session.cover {
                    try await step(api: false, attempts: &attempts) {
                        try await provider.transfer(file: cover, to: location, session: session) { _ in }
                    }
                }
                let remote = try await step(api: true, attempts: &attempts) { try await provider.commit(session) }
                stats.update { $0.committed += 1 }
                return ItemOutcome(item: item, status: .committed, remote: remote, attempts: attempts, requestID: remote.requestID)
            } catch let renew as RenewSession {
                if sessions >= options.maxSessions {
                    stats.update { $0.failed += 1 }
                    return ItemOutcome(item: item, status: .failed, error: renew.cause, attempts: attempts, requestID: renew.cause.requestID ?? lastRequestID)
                }
            } catch let error as ProviderError {
                stats.update { $0.failed += 1 }
                return ItemOutcome(item: item, status: .failed, error: error, attempts: attempts, requestID: error.requestID ?? lastRequestID)
            }
        }
    }

    /// Runs one step with retries: transient errors back off and retry, throttling also slows the
    /// shared rate, an expired session starts the item over, anything else ends the item.
    private func step<T>(api: Bool, attempts: inout Int, _ body: () async throws -> T) async throws -> T {
        var tries = 0
        while true {
            tries += 1
            attempts += 1
            if api {
                try await limiter.acquire()
                stats.update { $0.apiCalls += 1 }
            }
            do {
                let value = try await body()
                if api { await limiter.succeeded() }
                return value
            } catch let error as ProviderError {
                switch error.disposition {
                case .retry, .throttled:
                    if error.disposition == .throttled {
                        await limiter.throttled()
                        stats.update { $0.throttles += 1 }
                    }
                    guard tries < options.maxAttempts else { throw error }
                    stats.update { $0.retries += 1 }
                    try await Task.sleep(for: Backoff.delay(attempt: tries))
                case .renewSession:
                    throw RenewSession(cause: error)
                case .failItem, .abortRun:
                    throw error
                }
            }
        }
    }
}
