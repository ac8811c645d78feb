import Foundation

/// RFC 3986 percent-encoding of UTF-8 as both vendors sign it: `A–Z a–z 0–9 - _ . ~` stay, every
/// other byte is `%XX` with upper-case hex (a space is `%20`, never `+`).
public enum RFC3986 {
    public static func encode(_ s: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count)
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
                UInt8(ascii: "~"):
                out.append(b)
            default:
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(b >> 4)])
                out.append(hex[Int(b & 0x0F)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Splits a request target into its decoded path and decoded query pairs (in wire order; a
    /// parameter without `=` has an empty value; `+` is a space): how the emulator reads a request.
    public static func splitTarget(_ target: String) -> (path: String, query: [(String, String)]) {
        let pieces = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let rawPath = String(pieces[0])
        let path = rawPath.removingPercentEncoding ?? rawPath
        var query: [(String, String)] = []
        if pieces.count == 2 {
            for pair in pieces[1].split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                func decode(_ s: Substring) -> String {
                    let plusless = String(s).replacingOccurrences(of: "+", with: "%20")
                    return plusless.removingPercentEncoding ?? String(s)
                }
                query.append((decode(kv[0]), kv.count == 2 ? decode(kv[1]) : ""))
            }
        }
        return (path, query)
    }

    /// Like ``encode(_:)``, but `/` stays: an object key in a URL path.
    public static func encodePath(_ key: String) -> String {
        key.split(separator: "/", omittingEmptySubsequences: false).map { encode(String($0)) }.joined(separator: "/")
    }

    /// The `name=value` fields of an Authorization header after its algorithm name, split on commas.
    public static func authorizationFields(_ header: String, algorithm: String) -> [String: String]? {
        guard header.hasPrefix(algorithm + " ") else { return nil }
        var fields: [String: String] = [:]
        for piece in header.dropFirst(algorithm.count + 1).split(separator: ",") {
            let kv = piece.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            if kv.count == 2 { fields[String(kv[0])] = String(kv[1]) }
        }
        return fields
    }
}
