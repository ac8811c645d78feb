/// Byte-level string helpers for the per-row hot path (million-row manifests): each has an ASCII
/// fast path and falls back to full Unicode handling only when needed.
extension String {
    /// The string without leading/trailing spaces, tabs, CR and LF (Unicode spaces too, slowly).
    /// Returns `self` without copying when there is nothing to trim.
    public func trimmedSpaces() -> String {
        let clean = withBytes { u in
            guard let first = u.first, let last = u.last else { return true }
            return !Self.isSpaceByte(first) && !Self.isSpaceByte(last) && first < 0x80 && last < 0x80
        }
        return clean ? self : trimmingSpaces()
    }

    @inline(__always) public static func isSpaceByte(_ b: UInt8) -> Bool {
        b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D
    }

    /// Runs `body` over the string's UTF-8 bytes in contiguous memory (free for native strings).
    @inline(__always)
    public func withBytes<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        var copy = self
        return try copy.withUTF8(body)
    }

    /// True when every byte is ASCII.
    public var isPlainASCII: Bool {
        withBytes { bytes in
            var any: UInt8 = 0
            for b in bytes { any |= b }
            return any < 0x80
        }
    }

    /// Number of Unicode scalars (the platforms' "characters"); O(1)-ish for ASCII.
    public var scalarCount: Int { isPlainASCII ? utf8.count : unicodeScalars.count }

    /// Whether the string contains control characters (`Cc`); newlines and tabs may be allowed.
    public func containsControlCharacters(allowingNewlines: Bool) -> Bool {
        let verdict: Bool? = withBytes { bytes in
            var ascii = true
            for b in bytes {
                if b >= 0x80 {
                    ascii = false
                    continue
                }
                if b == 0x7F { return true }
                if b < 0x20 {
                    if allowingNewlines, b == 0x0A || b == 0x0D || b == 0x09 { continue }
                    return true
                }
            }
            return ascii ? false : nil
        }
        if let verdict { return verdict }
        // C1 controls U+0080...U+009F are the only non-ASCII `Cc` scalars.
        return unicodeScalars.contains { $0.value >= 0x80 && $0.value <= 0x9F }
    }

    /// Whether the string contains whitespace (ASCII or Unicode).
    public func containsWhitespace() -> Bool {
        for b in utf8 where Self.isSpaceByte(b) || b == 0x0B || b == 0x0C { return true }
        if isPlainASCII { return false }
        return unicodeScalars.contains { $0.properties.isWhitespace }
    }
}
