import ArgumentParser
import Foundation
import IngestCore
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// How log events are written to standard error.
enum LogFormat: String, ExpressibleByArgument, CaseIterable, Sendable {
    /// `TIME LEVEL LABEL: message key=value ...`, one line an event.
    case text
    /// One JSON object a line (`time`, `level`, `label`, `message`, then the metadata), for log shippers.
    case json
}

/// `--log-level` and `--log-format`, on every command.
struct LogOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Least severe log events written to standard error: trace, debug (each HTTP exchange), info (each item's end), notice (retries, throttling, session renewals, credential refreshes, recovered commits; the default), warning, error, critical.",
            valueName: "level"))
    var logLevel: Logger.Level?

    @Option(
        help: ArgumentHelp(
            "Log events as text lines, or as json: one JSON object a line on standard error (default: text).", valueName: "format"))
    var logFormat: LogFormat?
}

/// A command whose log options set up logging before it runs.
protocol LoggingCommand {
    var logging: LogOptions { get set }
}

/// Writes each event as one line to standard error with one `write`, clearing the progress line
/// first. Metadata keys that name a secret have their values replaced (a safety net: no event
/// carries one).
struct StandardErrorLogHandler: LogHandler {
    let label: String
    let format: LogFormat
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let given = event.metadata { merged.merge(given) { _, new in new } }
        if let error = event.error { merged["error"] = "\(error)" }
        let line = Self.render(
            time: Date(), level: event.level, label: label, message: event.message.description, metadata: merged, format: format)
        Progress.clearLine()
        line.withCString { pointer in
            var offset = 0
            let count = strlen(pointer)
            while offset < count {
                let n = write(2, pointer + offset, count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    return
                }
                offset += n
            }
        }
    }

    static let secretWords = ["secret", "token", "password", "signature", "authorization", "credential"]

    static func render(
        time: Date, level: Logger.Level, label: String, message: String, metadata: Logger.Metadata, format: LogFormat
    ) -> String {
        let stamp = ISO8601Timestamp.formatMillis(time)
        let values = metadata.map { key, value -> (String, String) in
            let lower = key.lowercased()
            return (key, secretWords.contains(where: lower.contains) ? "<redacted>" : "\(value)")
        }.sorted { $0.0 < $1.0 }
        switch format {
        case .text:
            var line = "\(stamp) \(level) \(label): \(message)"
            for (key, value) in values {
                let quoted = value.isEmpty || value.contains { $0 == " " || $0 == "\"" || $0 == "=" || $0.isNewline }
                line += " \(key)=" + (quoted ? String(reflecting: value) : value)
            }
            return line + "\n"
        case .json:
            var object: [String: String] = ["time": stamp, "level": level.rawValue, "label": label, "message": message]
            for (key, value) in values where object[key] == nil { object[key] = value }
            return JSON.encode(object) + "\n"
        }
    }

    /// The process's log format, set once by ``bootstrap(level:format:)``.
    private static let chosen = Mutex(LogFormat.text)
    static var format: LogFormat { chosen.withLock { $0 } }

    /// Sets up logging for the whole process (once, before the command runs).
    static func bootstrap(level: Logger.Level?, format: LogFormat?) {
        let level = level ?? .notice
        let format = format ?? .text
        chosen.withLock { $0 = format }
        LoggingSystem.bootstrap { label in
            StandardErrorLogHandler(label: label, format: format, logLevel: level)
        }
    }
}

/// Messages for a person on standard error (what was found, what to do): a line of text, or with
/// `--log-format json` a JSON event like the logs' (label `vodingest`), so that standard error is
/// JSON Lines throughout.
enum StandardError {
    static func say(_ text: String) {
        let trimmed = text.hasSuffix("\n") ? String(text.dropLast()) : text
        let line: String
        switch StandardErrorLogHandler.format {
        case .text:
            line = trimmed + "\n"
        case .json:
            let level: Logger.Level =
                trimmed.hasPrefix("error") || trimmed.hasPrefix("internal error")
                ? .error : trimmed.hasPrefix("warning") ? .warning : .notice
            line = StandardErrorLogHandler.render(
                time: Date(), level: level, label: "vodingest", message: trimmed, metadata: [:], format: .json)
        }
        Progress.clearLine()
        FileHandle.standardError.write(Data(line.utf8))
    }
}
