import Synchronization

/// One byte budget shared by every upload of a run (`ingest --bandwidth`): a token bucket refilled
/// at `bytesPerSecond` that holds at most one second's worth. A sender reserves its chunk before
/// sending it and sleeps off any debt, so senders are served in the order they asked and the
/// long-run rate never exceeds the cap.
public final class BandwidthLimiter: Sendable {
    public let bytesPerSecond: Double
    private let state: Mutex<(tokens: Double, last: ContinuousClock.Instant)>

    public init(bytesPerSecond: Double) {
        precondition(bytesPerSecond > 0, "a bandwidth cap must be positive")
        self.bytesPerSecond = bytesPerSecond
        state = Mutex((bytesPerSecond, ContinuousClock.now))
    }

    /// Reserves `count` bytes; returns once they may be sent. Cancellation ends the wait early (the
    /// caller's next cancellation check stops the upload).
    public func take(_ count: Int) async {
        let wait = reserve(count, now: ContinuousClock.now)
        if wait > .zero { try? await Task.sleep(for: wait) }
    }

    /// The bookkeeping of ``take(_:)``: how long the caller must wait before sending `count` bytes.
    func reserve(_ count: Int, now: ContinuousClock.Instant) -> Duration {
        let rate = bytesPerSecond
        return state.withLock { s in
            let elapsed = now - s.last
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            s.tokens = min(rate, s.tokens + rate * max(0, seconds))
            s.last = max(s.last, now)
            s.tokens -= Double(count)
            return s.tokens >= 0 ? .zero : .nanoseconds(Int64((-s.tokens / rate) * 1e9))
        }
    }
}
