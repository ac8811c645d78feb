import IngestCore

/// A streaming RFC 4180 record reader over a ``ByteSource``.
///
/// - Quoted fields may hold commas, doubled quotes and line breaks; CRLF, LF and lone CR end records.
/// - A UTF-8 byte-order mark at the start is skipped.
/// - Every record carries the 1-based line on which it starts, counting the newlines inside quoted
///   fields, so diagnostics point at the right line of the file.
/// - Memory is one buffer (1 MiB, grown only for a single record larger than that, up to
///   ``maximumRecordBytes``); records are parsed in place and fields are byte ranges into it.
///
/// Call ``next(skippingCommentLines:)`` until it returns `false`; between calls, ``fieldCount``,
/// ``string(at:)`` and ``problem`` describe the current record.
public final class CSVRecordReader {
    /// A record larger than this is refused (almost always an unterminated quote).
    public static let maximumRecordBytes = 64 << 20

    struct Field {
        var start: Int
        var end: Int
        var hasEscapedQuotes: Bool
        var quoted: Bool
    }

    private enum Status {
        case complete(next: Int, newlines: Int)
        case needMore
    }

    private let source: ByteSource
    private var buffer: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    private var start = 0
    private var end = 0
    private var atEOF = false
    private var sawFirstChunk = false
    private var nextLine = 1
    private var fields: [Field] = []
    private var scratch: [UInt8] = []

    /// Line on which the current record starts.
    public private(set) var line = 0
    /// What is wrong with the current record's syntax, if anything (it is still returned).
    public private(set) var problem: String?

    public init(source: ByteSource, bufferSize: Int = 1 << 20) {
        self.source = source
        self.capacity = max(bufferSize, 64)
        self.buffer = .allocate(capacity: capacity)
    }

    deinit { buffer.deallocate() }

    /// Number of fields in the current record.
    public var fieldCount: Int { fields.count }

    /// Field `index` of the current record, or `nil` when it is not valid UTF-8.
    public func string(at index: Int) -> String? {
        let f = fields[index]
        if f.start == f.end { return "" }
        if !f.hasEscapedQuotes {
            return Self.decodeUTF8(UnsafeBufferPointer(start: buffer + f.start, count: f.end - f.start))
        }
        scratch.removeAll(keepingCapacity: true)
        var i = f.start
        while i < f.end {
            let b = buffer[i]
            scratch.append(b)
            i += (b == UInt8(ascii: "\"") && i + 1 < f.end && buffer[i + 1] == UInt8(ascii: "\"")) ? 2 : 1
        }
        return scratch.withUnsafeBufferPointer { Self.decodeUTF8($0) }
    }

    /// Decodes UTF-8, or returns `nil` when the bytes are not valid UTF-8.
    ///
    /// `String(validating:as:)` is generic and unspecialised across modules, which made it a third of
    /// the parse time; decoding (which repairs) and comparing the bytes back is exact and fast.
    @inline(__always)
    static func decodeUTF8(_ bytes: UnsafeBufferPointer<UInt8>) -> String? {
        let text = String(decoding: bytes, as: UTF8.self)
        var ascii = true
        for b in bytes where b >= 0x80 {
            ascii = false
            break
        }
        if ascii { return text }
        return text.utf8.elementsEqual(bytes) ? text : nil
    }

    /// Whether field `index` is empty (cheaper than building its string).
    public func isEmpty(at index: Int) -> Bool { fields[index].start == fields[index].end }

    /// Advances to the next non-blank record.
    /// - Parameter skippingCommentLines: skip physical lines that start with `#` (before the header).
    /// - Returns: `false` at the end of input.
    /// - Throws: ``IngestError`` when the source cannot be read or a record exceeds the size limit.
    public func next(skippingCommentLines: Bool = false) throws(IngestError) -> Bool {
        while true {
            if start == end {
                if atEOF { return false }
                try fill()
                continue
            }
            if skippingCommentLines, buffer[start] == UInt8(ascii: "#") {
                guard let lineEnd = findLineEnd(from: start) else {
                    if atEOF {
                        start = end
                        return false
                    }
                    try fill()
                    continue
                }
                start = lineEnd
                nextLine += 1
                continue
            }
            switch parseRecord(at: start) {
            case .needMore:
                try fill()
            case .complete(let next, let newlines):
                line = nextLine
                nextLine += newlines
                start = next
                // A blank line is not a record.
                if fields.count == 1, fields[0].start == fields[0].end, !fields[0].quoted, problem == nil {
                    continue
                }
                return true
            }
        }
    }

    /// Index just past the end of the physical line starting at `from`, or `nil` if not yet buffered.
    private func findLineEnd(from: Int) -> Int? {
        var i = from
        while i < end {
            let b = buffer[i]
            if b == UInt8(ascii: "\n") { return i + 1 }
            if b == UInt8(ascii: "\r") {
                if i + 1 < end { return buffer[i + 1] == UInt8(ascii: "\n") ? i + 2 : i + 1 }
                return atEOF ? i + 1 : nil
            }
            i += 1
        }
        return atEOF ? end : nil
    }

    /// Moves the unconsumed bytes to the front, grows the buffer if one record fills it, reads more.
    private func fill() throws(IngestError) {
        if start > 0 {
            let remaining = end - start
            if remaining > 0 { (buffer).update(from: buffer + start, count: remaining) }
            start = 0
            end = remaining
        }
        if end == capacity {
            guard capacity < Self.maximumRecordBytes else {
                throw IngestError(
                    code: "manifest.malformed",
                    message:
                        "line \(nextLine): a single record is larger than \(Self.maximumRecordBytes >> 20) MiB; "
                        + "an opening quote is probably never closed")
            }
            let bigger = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity * 2)
            bigger.update(from: buffer, count: end)
            buffer.deallocate()
            buffer = bigger
            capacity *= 2
        }
        let n = try source.read(into: buffer + end, count: capacity - end)
        if n == 0 { atEOF = true }
        end += n
        if !sawFirstChunk, end >= 3 || atEOF {
            sawFirstChunk = true
            if end >= 3, buffer[0] == 0xEF, buffer[1] == 0xBB, buffer[2] == 0xBF { start = 3 }
        }
    }

    /// Parses one record at `p0` into `fields`, or reports that more input is needed.
    private func parseRecord(at p0: Int) -> Status {
        let quote = UInt8(ascii: "\"")
        let comma = UInt8(ascii: ",")
        let lf = UInt8(ascii: "\n")
        let cr = UInt8(ascii: "\r")
        let buf = buffer
        let end = self.end
        let eof = atEOF
        // Work on a local array (moved out and back, no copy): appends to a class property pay an
        // exclusivity check each, which was a tenth of the parse time.
        var fields = self.fields
        self.fields = []
        fields.removeAll(keepingCapacity: true)
        var problem: String? = nil
        defer {
            self.fields = fields
            self.problem = problem
        }
        var p = p0
        var newlines = 0
        while true {
            if p == end {
                if !eof { return .needMore }
                fields.append(Field(start: p, end: p, hasEscapedQuotes: false, quoted: false))
                return .complete(next: p, newlines: newlines)
            }
            if buf[p] == quote {
                var q = p + 1
                var escaped = false
                var closed = false
                while q < end {
                    let b = buf[q]
                    if b == quote {
                        if q + 1 < end {
                            if buf[q + 1] == quote {
                                escaped = true
                                q += 2
                                continue
                            }
                            closed = true
                            break
                        }
                        if !eof { return .needMore }
                        closed = true
                        break
                    }
                    if b == lf { newlines += 1 }
                    q += 1
                }
                if !closed {
                    if !eof { return .needMore }
                    problem = problem ?? "a quoted field opened on line \(nextLine + 0) is never closed"
                    fields.append(Field(start: p + 1, end: end, hasEscapedQuotes: escaped, quoted: true))
                    return .complete(next: end, newlines: newlines)
                }
                fields.append(Field(start: p + 1, end: q, hasEscapedQuotes: escaped, quoted: true))
                p = q + 1
                if p < end, buf[p] != comma, buf[p] != lf, buf[p] != cr {
                    problem = problem ?? "unexpected text after the closing quote of field \(fields.count)"
                    while p < end, buf[p] != comma, buf[p] != lf, buf[p] != cr { p += 1 }
                    if p == end, !eof { return .needMore }
                }
            } else {
                var q = p
                while q < end {
                    let b = buf[q]
                    if b == comma || b == lf || b == cr { break }
                    q += 1
                }
                if q == end, !eof { return .needMore }
                fields.append(Field(start: p, end: q, hasEscapedQuotes: false, quoted: false))
                p = q
            }
            if p == end {
                if !eof { return .needMore }
                return .complete(next: p, newlines: newlines)
            }
            let b = buf[p]
            if b == comma {
                p += 1
                continue
            }
            if b == lf { return .complete(next: p + 1, newlines: newlines + 1) }
            // b == cr
            if p + 1 < end { return .complete(next: buf[p + 1] == lf ? p + 2 : p + 1, newlines: newlines + 1) }
            if !eof { return .needMore }
            return .complete(next: p + 1, newlines: newlines + 1)
        }
    }
}
