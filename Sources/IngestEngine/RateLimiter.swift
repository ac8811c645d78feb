import Foundation

/// One token bucket of API requests per second shared by every worker, with AIMD: each throttle
/// answer halves the rate (down to a floor), each success adds back a little, up to the ceiling.
public actor RateLimiter {
    public let ceiling: Double
    public private(set) var rate: Double
    private let floor: Double
    private var tokens: Double
    private var last: ContinuousClock.Instant
    private let clock = ContinuousClock()
    public private(set) var throttles = 0

    /// - Parameter rate: requests per second at most (`--api-rate`).
    public init(rate: Double) {
        ceiling = max(rate, 0.1)
        self.rate = ceiling
        floor = max(ceiling / 64, 0.1)
        tokens = 1
        last = clock.now
    }

    /// Waits until a request may go.
    public func acquire() async throws {
        while true {
            refill()
            if tokens >= 1 {
                tokens -= 1
                return
            }
            let wait = (1 - tokens) / rate
            try await Task.sleep(for: .milliseconds(max(1, Int(wait * 1000))))
        }
    }

    private func refill() {
        let now = clock.now
        let elapsed = now - last
        last = now
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        // At most a tenth of a second of burst.
        tokens = min(max(1, rate / 10), tokens + seconds * rate)
    }

    /// The platform said "too many requests": halve.
    public func throttled() {
        throttles += 1
        rate = max(floor, rate / 2)
        tokens = min(tokens, 0)
    }

    /// A request went through: recover additively (1% of the ceiling).
    public func succeeded() {
        rate = min(ceiling, rate + ceiling / 100)
    }
}
