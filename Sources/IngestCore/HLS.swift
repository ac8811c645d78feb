import Foundation

/// HLS playlists (RFC 8216), as far as a package upload needs them: the files a playlist names.
/// One parser for validation, the upload, and the emulator's ParseStreamingManifest and commit
/// check, so the three always agree.
public enum HLSPlaylist {
    /// Tags whose `URI` attribute names a file of the package: an init segment, an alternative
    /// rendition's playlist, an I-frame playlist, a key, a session key or data.
    static let uriTags: [String] = [
        "#EXT-X-MAP:", "#EXT-X-MEDIA:", "#EXT-X-I-FRAME-STREAM-INF:", "#EXT-X-KEY:", "#EXT-X-SESSION-KEY:", "#EXT-X-SESSION-DATA:",
        "#EXT-X-PART:", "#EXT-X-PRELOAD-HINT:", "#EXT-X-RENDITION-REPORT:",
    ]

    /// The URIs `text` names, in order of first appearance and each once: the media segment (or
    /// variant playlist) lines, and the `URI="..."` of ``uriTags``. Blank lines and comments are
    /// skipped; `#EXT-X-KEY:METHOD=NONE` names nothing.
    public static func references(_ text: String) -> [String] {
        var seen = Set<String>()
        var out: [String] = []
        func add(_ uri: String) {
            let trimmed = uri.trimmingSpaces
            if !trimmed.isEmpty, seen.insert(trimmed).inserted { out.append(trimmed) }
        }
        let body = text.hasPrefix("\u{FEFF}") ? Substring(text.dropFirst()) : Substring(text)
        for raw in body.split(omittingEmptySubsequences: true, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }) {
            let line = String(raw).trimmingSpaces
            if line.isEmpty { continue }
            if line.hasPrefix("#") {
                guard let tag = uriTags.first(where: { line.hasPrefix($0) }),
                    let uri = attribute("URI", in: String(line.dropFirst(tag.count)))
                else { continue }
                add(uri)
            } else {
                add(line)
            }
        }
        return out
    }

    /// Whether the text is a playlist at all (its first line is `#EXTM3U`).
    public static func isPlaylist(text: String) -> Bool {
        text.drop { $0 == "\u{FEFF}" }.hasPrefix("#EXTM3U")
    }

    /// Whether `uri` names a playlist to read in turn (its path ends in `.m3u8` or `.m3u`).
    public static func namesPlaylist(_ uri: String) -> Bool {
        let path = uri.split(separator: "?", maxSplits: 1).first.map(String.init)?.lowercased() ?? ""
        return path.hasSuffix(".m3u8") || path.hasSuffix(".m3u")
    }

    /// Whether `uri` is absolute (`scheme:`, `//host`): a package names its files relative to the playlist.
    public static func isURL(_ uri: String) -> Bool {
        if uri.hasPrefix("//") { return true }
        guard let colon = uri.firstIndex(of: ":") else { return false }
        let scheme = uri[uri.startIndex..<colon]
        return !scheme.isEmpty && scheme.allSatisfy { $0.isLetter || $0.isNumber || $0 == "+" || $0 == "-" || $0 == "." }
            && scheme.first!.isLetter
    }

    /// `uri` joined to the folder `base` (relative to the package's top playlist, `""` for its own
    /// folder) and normalised; nil when it climbs out of the package's folder or is absolute.
    public static func resolve(_ uri: String, against base: String) -> String? {
        guard !uri.hasPrefix("/"), !isURL(uri) else { return nil }
        var parts: [Substring] = base.split(separator: "/")
        for piece in uri.split(separator: "/", omittingEmptySubsequences: true) {
            switch piece {
            case ".": continue
            case "..":
                guard !parts.isEmpty else { return nil }
                parts.removeLast()
            default: parts.append(piece)
            }
        }
        return parts.isEmpty ? nil : parts.joined(separator: "/")
    }

    /// The folder of a relative path (`a/b/c.ts` → `a/b`, `c.ts` → ``).
    public static func folder(of relative: String) -> String {
        guard let slash = relative.lastIndex(of: "/") else { return "" }
        return String(relative[..<slash])
    }

    /// The value of `name=` in an attribute list (`KEY=VALUE,...`, values quoted or not).
    static func attribute(_ name: String, in list: String) -> String? {
        var rest = Substring(list)
        while !rest.isEmpty {
            guard let equals = rest.firstIndex(of: "=") else { return nil }
            let key = rest[rest.startIndex..<equals].trimmingCharacters(in: .whitespaces)
            rest = rest[rest.index(after: equals)...]
            var value: Substring
            if rest.first == "\"" {
                let body = rest.dropFirst()
                let close = body.firstIndex(of: "\"") ?? body.endIndex
                value = body[body.startIndex..<close]
                rest = close < body.endIndex ? body[body.index(after: close)...] : ""
                if rest.first == "," { rest = rest.dropFirst() }
            } else {
                let comma = rest.firstIndex(of: ",") ?? rest.endIndex
                value = rest[rest.startIndex..<comma]
                rest = comma < rest.endIndex ? rest[rest.index(after: comma)...] : ""
            }
            if key == name { return String(value) }
        }
        return nil
    }
}

extension String {
    fileprivate var trimmingSpaces: String { trimmingCharacters(in: .whitespaces) }
}
