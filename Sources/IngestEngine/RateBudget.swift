import Foundation
import IngestCore
import Synchronization

/// The API budget of a run: one ``RateLimiter`` per action at the platform's documented rate (each
/// with its own AIMD on throttling, since the platform throttles each action on its own), under an
/// optional cap on all of them together (`--api-rate`).
public struct RateBudget: Sendable {
    /// Requests per second by action.
    public let rates: [String: Double]
    /// For an action without a rate of its own; nil: not limited but by the cap.
    public let defaultRate: Double?
    public let cap: Double?
    private let limiters: [String: RateLimiter]
    private let fallback: RateLimiter?
    private let total: RateLimiter?

    public init(rates: [String: Double], defaultRate: Double?, cap: Double?) {
        self.rates = rates
        self.defaultRate = defaultRate
        self.cap = cap
        limiters = rates.mapValues { RateLimiter(rate: $0) }
        fallback = defaultRate.map { RateLimiter(rate: $0) }
        total = cap.map { RateLimiter(rate: $0) }
    }

    func limiter(_ action: String) -> RateLimiter? { limiters[action] ?? fallback }

    /// The rate `action` may go at, at most.
    public func rate(of action: String) -> Double {
        Swift.min(limiters[action]?.ceiling ?? defaultRate ?? .infinity, cap ?? .infinity)
    }

    /// Waits until a request of `action` may go.
    public func acquire(_ action: String) async throws {
        if let total { try await total.acquire() }
        if let limiter = limiter(action) { try await limiter.acquire() }
    }

    public func succeeded(_ action: String) async { await limiter(action)?.succeeded() }

    /// The platform throttled `action`: that action's rate halves, the others keep theirs.
    public func throttled(_ action: String) async { await limiter(action)?.throttled() }

    /// Items per second the budget allows when each item makes the calls `perItem` counts.
    public func itemRate(_ perItem: [String: Int]) -> Double {
        var items = Double.infinity
        for (action, count) in perItem where count > 0 { items = Swift.min(items, rate(of: action) / Double(count)) }
        if let cap { items = Swift.min(items, cap / Double(Swift.max(1, perItem.values.reduce(0, +)))) }
        return items
    }
}

/// Items in flight by Little's law: the budget's item rate × the observed time an item takes (a
/// moving average, without the time it queued for the budget), with half again as headroom,
/// between a floor and the `--concurrency` cap. A far region's longer round trips raise it until
/// the API budget is used; transfer-bound work (large files, where more files at once only share
/// the link) stays at the floor.
public final class ConcurrencyController: Sendable {
    public let floor: Int
    public let cap: Int
    public let adaptive: Bool
    /// Mean item size from which items count as transfer-bound.
    public let largeItemBytes: Int64
    struct State {
        var seconds: Double?
        var bytes: Double?
        var peak = 0
    }
    private let state = Mutex(State())

    public init(cap: Int, adaptive: Bool, floor: Int = 8, largeItemBytes: Int64 = 8 << 20) {
        self.cap = Swift.max(1, cap)
        self.floor = Swift.max(1, Swift.min(floor, cap))
        self.adaptive = adaptive
        self.largeItemBytes = largeItemBytes
    }

    /// An item finished after `seconds`, having `bytes` to send.
    public func finished(seconds: Double, bytes: Int64) {
        state.withLock {
            let alpha = 0.2
            $0.seconds = $0.seconds.map { $0 + alpha * (seconds - $0) } ?? seconds
            $0.bytes = $0.bytes.map { $0 + alpha * (Double(bytes) - $0) } ?? Double(bytes)
        }
    }

    /// Items that may be in flight now, for `itemRate` items per second.
    public func limit(itemRate: Double) -> Int {
        guard adaptive else { return cap }
        return state.withLock { s in
            guard let seconds = s.seconds, itemRate.isFinite else { return s.seconds == nil ? floor : cap }
            if let bytes = s.bytes, bytes >= Double(largeItemBytes) { return floor }
            let wanted = Int((itemRate * seconds * 1.5).rounded(.up)) + 2
            return Swift.max(floor, Swift.min(cap, wanted))
        }
    }

    func running(_ count: Int) { state.withLock { $0.peak = Swift.max($0.peak, count) } }
    /// The most items that were in flight at once.
    public var peak: Int { state.withLock { $0.peak } }
}

/// Time spent waiting, added up across an item's tasks.
final class WaitMeter: Sendable {
    private let value = Mutex(Duration.zero)
    func add(_ wait: Duration) { value.withLock { $0 += wait } }
    var total: Duration { value.withLock { $0 } }
}
