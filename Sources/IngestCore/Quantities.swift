/// A byte count parsed from a human string: `64MiB`, `1.5GB`, `512k`, `1048576`.
///
/// Decimal units (`kB`/`KB`, `MB`, `GB`, `TB`) are powers of 1000; binary units (`KiB`, `MiB`, `GiB`,
/// `TiB`) and the bare letters `K`, `M`, `G`, `T` (as in rclone) are powers of 1024. `B` is optional.
public struct ByteSize: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var bytes: Int64

    public init(bytes: Int64) { self.bytes = bytes }

    /// Parses `text`; returns `nil` when it is not a non-negative size with a known unit.
    public init?(parsing text: String) {
        guard let (value, unit) = Self.splitNumber(text.trimmingSpaces()) else { return nil }
        guard let multiplier = Self.multiplier(for: unit) else { return nil }
        let total = value * multiplier
        guard total.isFinite, total >= 0, total < 9.2e18 else { return nil }
        self.bytes = Int64(total.rounded())
    }

    public static func < (lhs: ByteSize, rhs: ByteSize) -> Bool { lhs.bytes < rhs.bytes }

    public var description: String { Self.format(bytes) }

    /// `1.5 GiB`-style rendering with binary units.
    public static func format(_ bytes: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
        var value = Double(bytes)
        var index = 0
        while value >= 1024, index < units.count - 1 {
            value /= 1024
            index += 1
        }
        if index == 0 { return "\(bytes) B" }
        let rounded = (value * 10).rounded() / 10
        let text = rounded == rounded.rounded() ? String(Int(rounded)) : String(rounded)
        return "\(text) \(units[index])"
    }

    static func multiplier(for unit: String) -> Double? {
        switch unit {
        case "", "b", "B": return 1
        case "k", "K", "KiB", "kiB", "KIB", "Ki", "ki": return 1024
        case "kB", "KB", "kb": return 1000
        case "M", "m", "MiB", "MIB", "Mi": return 1024 * 1024
        case "MB", "mb", "Mb": return 1_000_000
        case "G", "g", "GiB", "GIB", "Gi": return 1024 * 1024 * 1024
        case "GB", "gb", "Gb": return 1_000_000_000
        case "T", "t", "TiB", "TIB", "Ti": return 1024 * 1024 * 1024 * 1024
        case "TB", "tb", "Tb": return 1_000_000_000_000
        default: return nil
        }
    }

    /// Splits `12.5MiB` into (12.5, "MiB").
    static func splitNumber(_ text: String) -> (Double, String)? {
        var numberEnd = text.startIndex
        var sawDigit = false
        var sawDot = false
        for index in text.indices {
            let c = text[index]
            if c.isASCII, c.isNumber {
                sawDigit = true
            } else if c == ".", !sawDot {
                sawDot = true
            } else {
                break
            }
            numberEnd = text.index(after: index)
        }
        guard sawDigit, let value = Double(text[..<numberEnd]) else { return nil }
        let unit = text[numberEnd...].trimmingSpaces()
        return (value, unit)
    }
}

/// A transfer rate: `100MB/s`, `1Gbit/s`, `800Mbps`, `50MiB/s` (bytes per second).
public struct ByteRate: Sendable, Hashable, CustomStringConvertible {
    public var bytesPerSecond: Double

    public init(bytesPerSecond: Double) { self.bytesPerSecond = bytesPerSecond }

    /// Parses `text`; a size followed by `/s` (or without it), or bits with `bit/s` / `bps`.
    public init?(parsing text: String) {
        var body = text.trimmingSpaces()
        for suffix in ["/s", "/sec", "ps"] where body.hasSuffix(suffix) {
            // "ps" only as in "Mbps"/"Gbps".
            if suffix == "ps", !body.lowercased().hasSuffix("bps") { continue }
            body = String(body.dropLast(suffix.count))
            if suffix == "ps" { body += "it" }  // "Mb" + "it" -> "Mbit"
            break
        }
        if body.lowercased().hasSuffix("bit") {
            let sizeText = String(body.dropLast(3))
            guard let (value, unit) = ByteSize.splitNumber(sizeText.trimmingSpaces()) else { return nil }
            let factor: Double
            switch unit.lowercased() {
            case "": factor = 1
            case "k": factor = 1e3
            case "m": factor = 1e6
            case "g": factor = 1e9
            case "t": factor = 1e12
            default: return nil
            }
            guard value > 0 else { return nil }
            self.bytesPerSecond = value * factor / 8
            return
        }
        guard let size = ByteSize(parsing: body), size.bytes > 0 else { return nil }
        self.bytesPerSecond = Double(size.bytes)
    }

    public var description: String { "\(ByteSize.format(Int64(bytesPerSecond)))/s" }
}

/// A request rate: `100`, `50/s`, `0.5/s`, `6000/min`.
public struct RequestRate: Sendable, Hashable, CustomStringConvertible {
    public var perSecond: Double

    public init(perSecond: Double) { self.perSecond = perSecond }

    public init?(parsing text: String) {
        var body = text.trimmingSpaces().lowercased()
        var divisor = 1.0
        if body.hasSuffix("/min") || body.hasSuffix("/m") {
            divisor = 60
            body = String(body[..<body.lastIndex(of: "/")!])
        } else if body.hasSuffix("/s") || body.hasSuffix("/sec") {
            body = String(body[..<body.lastIndex(of: "/")!])
        }
        guard let value = Double(body), value.isFinite, value > 0 else { return nil }
        self.perSecond = value / divisor
    }

    public var description: String {
        perSecond == perSecond.rounded() ? "\(Int(perSecond))/s" : String(format: "%.1f/s", perSecond)
    }
}

extension StringProtocol {
    /// The string without leading and trailing spaces, tabs and newlines.
    func trimmingSpaces() -> String {
        var start = startIndex
        var end = endIndex
        while start < end, self[start].isWhitespace { start = index(after: start) }
        while end > start, self[index(before: end)].isWhitespace { end = index(before: end) }
        return String(self[start..<end])
    }
}
