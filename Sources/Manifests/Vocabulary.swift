import Foundation
import IngestCore

/// The manifest vocabulary shared by CSV columns and XML elements.
public enum ManifestField: Hashable, Sendable {
    case id, path, cover, title, description, tags, category, procedure, storageRegion, expireTime
    case sourceContext, md5, sha256
    /// `meta.<name>`: custom data.
    case meta(String)

    /// The CSV column name (also used as the `field` of diagnostics).
    public var columnName: String {
        switch self {
        case .id: "id"
        case .path: "path"
        case .cover: "cover"
        case .title: "title"
        case .description: "description"
        case .tags: "tags"
        case .category: "category"
        case .procedure: "procedure"
        case .storageRegion: "storage_region"
        case .expireTime: "expire_time"
        case .sourceContext: "source_context"
        case .md5: "md5"
        case .sha256: "sha256"
        case .meta(let name): "meta.\(name)"
        }
    }

    static let simple: [ManifestField] = [
        .id, .path, .cover, .title, .description, .tags, .category, .procedure, .storageRegion,
        .expireTime, .sourceContext, .md5, .sha256,
    ]

    /// Maps a CSV header cell to a field: case-insensitive, surrounding spaces ignored, `-` and `_`
    /// interchangeable. `meta.<name>` keeps the name's case. Returns `nil` for an unknown column.
    public static func column(named raw: String) -> ManifestField? {
        let name = raw.trimmedSpaces()
        if name.count > 5, name.prefix(5).lowercased() == "meta." {
            let metaName = String(name.dropFirst(5))
            return metaName.isEmpty ? nil : .meta(metaName)
        }
        let key = name.lowercased().replacingOccurrences(of: "-", with: "_")
        return simple.first { $0.columnName == key }
    }
}

extension ManifestRow {
    /// Stores `value` in the slot for `field` (the last value wins); empty means "absent".
    /// Tags split on `;`; `meta.<name>` entries accumulate.
    mutating func set(_ field: ManifestField, _ value: String) {
        if value.isEmpty { return }
        switch field {
        case .id: self.id = value
        case .path: self.path = value
        case .cover: self.cover = value
        case .title: self.title = value
        case .description: self.description = value
        case .tags: self.tags = Self.splitTags(value)
        case .category: self.category = value
        case .procedure: self.procedure = value
        case .storageRegion: self.storageRegion = value
        case .expireTime: self.expireTime = value
        case .sourceContext: self.sourceContext = value
        case .md5: self.md5 = value
        case .sha256: self.sha256 = value
        case .meta(let name): self.meta.append(MetaEntry(name: name, value: value))
        }
    }

    /// `drama; s01 ;;x` → `["drama", "s01", "x"]`.
    static func splitTags(_ value: String) -> [String] {
        var tags: [String] = []
        let u = value.utf8
        var start = u.startIndex
        while true {
            let end = u[start...].firstIndex(of: UInt8(ascii: ";")) ?? u.endIndex
            var a = start
            var b = end
            while a < b, String.isSpaceByte(u[a]) { a = u.index(after: a) }
            while b > a, String.isSpaceByte(u[u.index(before: b)]) { b = u.index(before: b) }
            if a < b { tags.append(String(Substring(u[a..<b])).trimmedSpaces()) }
            guard end < u.endIndex else { break }
            start = u.index(after: end)
        }
        return tags
    }
}
