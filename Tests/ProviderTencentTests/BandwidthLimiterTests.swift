import Testing

@testable import VODHTTP

@Suite("bandwidth cap")
struct BandwidthLimiterTests {
    @Test("one second's worth goes at once, then senders wait off their debt in order")
    func debtIsWaitedOff() {
        let limiter = BandwidthLimiter(bytesPerSecond: 1000)
        let t0 = ContinuousClock.now
        #expect(limiter.reserve(1000, now: t0) == .zero)
        #expect(limiter.reserve(500, now: t0) == .milliseconds(500))
        // A second sender asking at the same instant queues behind the first.
        #expect(limiter.reserve(500, now: t0) == .seconds(1))
        // Idle time refills, but never beyond one second's worth.
        let later = t0 + .seconds(60)
        #expect(limiter.reserve(1000, now: later) == .zero)
        #expect(limiter.reserve(1, now: later) > .zero)
    }

    @Test("over any stretch, what is sent stays within rate × time + one second's worth")
    func longRunRate() {
        let rate = 256.0 * 1024
        let limiter = BandwidthLimiter(bytesPerSecond: rate)
        let t0 = ContinuousClock.now
        var now = t0
        var sent = 0.0
        for i in 0..<400 {
            // Four senders of 256 KiB chunks, each sending as soon as it is allowed.
            let wait = limiter.reserve(256 * 1024, now: now)
            now += wait
            sent += 256 * 1024
            if i % 4 == 3 { now += .milliseconds(1) }
            let elapsed = Double((now - t0).components.seconds) + Double((now - t0).components.attoseconds) / 1e18
            #expect(sent <= rate * elapsed + rate + 1, "after \(i + 1) chunks")
        }
        let elapsed = Double((now - t0).components.seconds)
        #expect(elapsed >= 398, "400 chunks of one second's worth take about 399 s of waiting, took \(elapsed)")
    }
}
