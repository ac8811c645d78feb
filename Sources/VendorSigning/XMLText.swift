import Foundation

/// The flat XML of COS requests and answers (`<UploadId>`, `<Code>`, `<ETag>`, `<Part>`...): what both
/// the client and the emulator read and write. Not a general XML parser: COS documents are flat.
public enum XMLText {
    /// The unescaped text of the first `<tag>`.
    public static func first(_ tag: String, in body: [UInt8]) -> String? {
        guard let text = String(bytes: body, encoding: .utf8) else { return nil }
        return first(tag, in: Substring(text))
    }

    public static func first(_ tag: String, in text: Substring) -> String? {
        guard let open = text.range(of: "<\(tag)>"), let close = text.range(of: "</\(tag)>", range: open.upperBound..<text.endIndex)
        else { return nil }
        return unescape(String(text[open.upperBound..<close.lowerBound]))
    }

    /// The inner text of every `<tag>...</tag>` block, in order.
    public static func blocks(_ tag: String, in text: String) -> [Substring] {
        var result: [Substring] = []
        var rest = Substring(text)
        while let open = rest.range(of: "<\(tag)>"), let close = rest.range(of: "</\(tag)>", range: open.upperBound..<rest.endIndex) {
            result.append(rest[open.upperBound..<close.lowerBound])
            rest = rest[close.upperBound...]
        }
        return result
    }

    public static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    public static func unescape(_ s: String) -> String {
        s.replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&lt;", with: "<")
            .replacingOccurrences(of: "&gt;", with: ">").replacingOccurrences(of: "&apos;", with: "'")
            .replacingOccurrences(of: "&amp;", with: "&")
    }

    /// `(PartNumber, ETag)` pairs of a CompleteMultipartUpload body (COS and OSS); quotes may come
    /// as `&quot;`. Empty when a part lacks either.
    public static func completedParts(_ text: String) -> [(number: Int, etag: String)] {
        var result: [(Int, String)] = []
        for block in blocks("Part", in: text) {
            guard let n = first("PartNumber", in: block).flatMap({ Int($0.trimmingCharacters(in: .whitespaces)) }),
                let e = first("ETag", in: block)
            else { return [] }
            result.append((n, e.trimmingCharacters(in: .whitespaces)))
        }
        return result
    }
}
