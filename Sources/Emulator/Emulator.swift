import Foundation
import Hummingbird
import Logging
import NIOCore

/// Runs the emulator: `vodingest emulator` standalone, or in-process for `--provider local`.
public enum Emulator {
    /// What a caller needs to talk to a running emulator.
    public struct Endpoint: Sendable {
        /// `http://127.0.0.1:PORT`: the VOD API endpoint and the COS endpoint at once.
        public var url: String
        public var port: Int
        public var secretID: String
        public var secretKey: String
        /// The Alibaba account's AccessKey pair the emulator accepts.
        public var aliyunAccessKeyID: String
        public var aliyunAccessKeySecret: String
        public var dataDirectory: String
    }

    /// Serves until cancelled.
    /// - Parameters:
    ///   - port: 0 picks a free port.
    ///   - handlesSignals: stop gracefully on SIGINT/SIGTERM (standalone); in-process, the caller cancels.
    ///   - onReady: called once the listener is bound.
    public static func run(
        configuration: EmulatorConfiguration, host: String = "127.0.0.1", port: Int = 0, handlesSignals: Bool = false,
        onReady: @escaping @Sendable (Endpoint) async -> Void
    ) async throws {
        let store = try EmulatorStore(configuration: configuration)
        let responder = EmulatorResponder(store: store)
        var logger = Logger(label: "vodingest.emulator")
        // In-process, the caller stops it by cancellation, which Hummingbird logs as errors.
        logger.logLevel = handlesSignals ? .warning : .critical
        let app = Application(
            responder: responder,
            configuration: .init(address: .hostname(host, port: port), serverName: "vodingest-emulator"),
            onServerRunning: { channel in
                let bound = channel.localAddress?.port ?? port
                let url = "http://\(host):\(bound)"
                await store.setBaseURL(url)
                await onReady(
                    Endpoint(
                        url: url, port: bound, secretID: configuration.secretID, secretKey: configuration.secretKey,
                        aliyunAccessKeyID: configuration.aliyunAccessKeyID, aliyunAccessKeySecret: configuration.aliyunAccessKeySecret,
                        dataDirectory: configuration.dataDirectory))
            },
            logger: logger)
        // In-process the emulator must never take the process's signals (the ingest's SignalWatcher
        // owns SIGINT and SIGTERM): Hummingbird's runService installs handlers for both by default.
        if handlesSignals { try await app.run() } else { try await app.runService(gracefulShutdownSignals: []) }
    }

    /// Runs `body` with the emulator serving on a free loopback port (in-process), then stops it.
    /// - Throws: what `body` throws; the server's own error if it cannot start (an unusable data
    ///   directory, say).
    public static func withRunning<T: Sendable>(
        configuration: EmulatorConfiguration, host: String = "127.0.0.1", port: Int = 0,
        _ body: @escaping @Sendable (Endpoint) async throws -> T
    ) async throws -> T {
        let (ready, continuation) = AsyncStream<Endpoint>.makeStream()
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                defer { continuation.finish() }
                try await run(configuration: configuration, host: host, port: port) { endpoint in
                    continuation.yield(endpoint)
                    continuation.finish()
                }
                return nil
            }
            var iterator = ready.makeAsyncIterator()
            guard let endpoint = await iterator.next() else {
                // The server ended before it was ready; its error says why.
                while try await group.next() != nil {}
                throw EmulatorError(message: "the emulator stopped before it was ready")
            }
            group.addTask { try await body(endpoint) }
            while let value = try await group.next() {
                if let value {
                    group.cancelAll()
                    return value
                }
            }
            throw EmulatorError(message: "the emulator stopped unexpectedly")
        }
    }
}

/// The emulator could not run.
public struct EmulatorError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }
}
