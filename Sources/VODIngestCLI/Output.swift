import Foundation
import IngestCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Buffered writes to standard output (results) and standard error (messages).
///
/// Results go to stdout, everything meant for a person but not a result goes to stderr, so
/// `--format json` output can be piped straight into another program.
final class Console {
    private var buffer: [UInt8] = []
    private let fd: Int32

    static func standardOutput() -> Console { Console(fd: 1) }
    static func standardError() -> Console { Console(fd: 2) }

    private init(fd: Int32) {
        self.fd = fd
        buffer.reserveCapacity(64 * 1024)
    }

    deinit { flush() }

    func write(_ text: String) {
        buffer.append(contentsOf: text.utf8)
        if buffer.count >= 60 * 1024 { flush() }
    }

    func write(bytes: Data) {
        buffer.append(contentsOf: bytes)
        if buffer.count >= 60 * 1024 { flush() }
    }

    func line(_ text: String = "") {
        write(text)
        write("\n")
    }

    func flush() {
        var offset = 0
        while offset < buffer.count {
            let n = buffer.withUnsafeBytes { raw in
                #if canImport(Glibc)
                    Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                #else
                    Darwin.write(fd, raw.baseAddress! + offset, raw.count - offset)
                #endif
            }
            if n < 0 {
                if errno == EINTR { continue }
                break  // stdout closed (e.g. `| head`): drop the rest quietly
            }
            offset += n
        }
        buffer.removeAll(keepingCapacity: true)
    }
}

/// Whether a file descriptor is a terminal.
func isTerminal(_ fd: Int32) -> Bool { isatty(fd) == 1 }

/// Colour on standard output: only on a terminal, never with `NO_COLOR` set (https://no-color.org)
/// or `TERM=dumb`.
enum Colour {
    static let enabled: Bool = {
        let environment = ProcessInfo.processInfo.environment
        return isTerminal(1) && (environment["NO_COLOR"] ?? "").isEmpty && environment["TERM"] != "dumb"
    }()

    static func red(_ text: String) -> String { paint(text, 31) }
    static func yellow(_ text: String) -> String { paint(text, 33) }
    static func green(_ text: String) -> String { paint(text, 32) }

    private static func paint(_ text: String, _ code: Int) -> String { enabled ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text }
}

extension String {
    /// For a terminal: a text with control characters (an escape sequence in an id) in its escaped form.
    var visible: String { containsControlCharacters(allowingNewlines: false) ? String(reflecting: self) : self }
}

/// JSON encoding helpers with stable key order.
enum JSON {
    static func encode<T: Encodable>(_ value: T, pretty: Bool = false) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting =
            pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(value) else { return "null" }
        return String(decoding: data, as: UTF8.self)
    }
}
