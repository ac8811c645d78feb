import Foundation

/// Requests per second of one API action (or of a cap over several), paced exactly with AIMD.
///
/// Each request gets the next free slot of a schedule spaced `1 / (rate × 0.99)` apart (the generic
/// cell rate algorithm): waiters queue for their own slots, so a timer that fires late delays that
/// request only, and no burst builds up. The 1 % headroom keeps a platform that counts requests in
/// one-second windows from seeing more than its limit when a timer is a millisecond late at a
/// window's edge. Each throttle answer halves the rate (down to a floor), each success adds back 1 %
/// of the ceiling.
public actor RateLimiter {
    public let ceiling: Double
    public private(set) var rate: Double
    private let floor: Double
    private var next: ContinuousClock.Instant
    private let clock = ContinuousClock()
    public private(set) var throttles = 0
    /// The share of `rate` the schedule uses.
    static let headroom = 0.99

    /// - Parameter rate: requests per second at most.
    public init(rate: Double) {
        ceiling = max(rate, 0.1)
        self.rate = ceiling
        floor = max(ceiling / 64, 0.1)
        next = clock.now
    }

    private var interval: Duration { .nanoseconds(Int64(1e9 / (rate * Self.headroom))) }

    /// Waits until a request may go: for the next free slot.
    public func acquire() async throws {
        let now = clock.now
        let slot = max(now, next)
        next = slot + interval
        if slot > now { try await Task.sleep(until: slot, clock: clock) }
    }

    /// The platform said "too many requests": halve, and leave the next slot free.
    public func throttled() {
        throttles += 1
        rate = max(floor, rate / 2)
        next = max(next, clock.now) + interval
    }

    /// A request went through: recover additively (1 % of the ceiling).
    public func succeeded() {
        rate = min(ceiling, rate + ceiling / 100)
    }
}
