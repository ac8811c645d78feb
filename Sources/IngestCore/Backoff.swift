/// Exponential backoff with jitter, shared by every retry loop (the engine's steps, the COS client's
/// parts): 200 ms, 400 ms, 800 ms, ... capped, each scaled by a random factor in [0.5, 1] so that
/// workers throttled together do not come back together.
public enum Backoff {
    public static func delay(attempt: Int, base: Duration = .milliseconds(200), cap: Duration = .seconds(10)) -> Duration {
        let exponent = min(max(attempt - 1, 0), 16)
        let ceiling = min(base * (1 << exponent), cap)
        let millis = Double(ceiling.components.seconds) * 1000 + Double(ceiling.components.attoseconds) / 1e15
        return .milliseconds(Int64(Double.random(in: 0.5...1.0) * millis))
    }
}
