import Dispatch
import Foundation
import IngestEngine

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// SIGINT and SIGTERM during an ingest (architecture §4.7): the first stops taking new items and
/// gives those in flight a grace period; a second one, or the end of the grace period, stops them
/// at once. Both are safe: every transition is journalled before its side effect.
///
/// `@unchecked Sendable`: `sources` is set once in `init`; `cancel()` on a dispatch source is thread-safe.
final class SignalWatcher: @unchecked Sendable {
    private let signals: AsyncStream<Int32>
    private let continuation: AsyncStream<Int32>.Continuation
    private let sources: [any DispatchSourceSignal]

    init() {
        (signals, continuation) = AsyncStream.makeStream(of: Int32.self)
        var sources: [any DispatchSourceSignal] = []
        for number in [SIGINT, SIGTERM] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            let continuation = self.continuation
            source.setEventHandler { continuation.yield(number) }
            source.resume()
            sources.append(source)
        }
        self.sources = sources
    }

    /// Waits for signals; throws ``IngestCommand/StopNow`` on the second (or when the grace period ends).
    func watch(control: RunControl, grace: Duration, sink: OutputSink) async throws {
        var iterator = signals.makeAsyncIterator()
        guard let first = await iterator.next() else { return }
        let name = first == SIGINT ? "SIGINT" : "SIGTERM"
        control.stopTaking(IngestRunner.Stop(reason: "interrupted by \(name)", signal: first))
        Progress.clearLine()
        await sink.message(
            "\n\(name): taking no new items; those in flight get \(grace.components.seconds) s to finish. "
                + "Send it again to stop now (the journal keeps everything; run the same command to resume).")
        let signals = self.signals
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await Task.sleep(for: grace) }
            group.addTask {
                var again = signals.makeAsyncIterator()
                _ = await again.next()
            }
            try await group.next()
            group.cancelAll()
        }
        try Task.checkCancellation()
        throw IngestCommand.StopNow(signal: first)
    }

    /// Restores the default handlers.
    func stop() {
        for source in sources { source.cancel() }
        continuation.finish()
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
}
