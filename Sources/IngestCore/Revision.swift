import Foundation

/// What of a row reaches the platform, as it was committed: the journal keeps it for each item, so
/// that a later delivery of the same row (same manifest and id) can be compared with it (the
/// nightly delta, as Kaltura's update-by-reference does it).
///
/// Encoded as canonical JSON (fixed key order, no spaces): two rows with the same values give the
/// same text, so the journal compares a million rows by string equality. The file itself is
/// compared by size and modification time (and, when only the time differs, by its CRC-64).
public struct RowValues: Sendable, Hashable, Codable {
    public var title: String
    public var description: String?
    public var tags: [String]
    public var category: Int?
    public var procedure: String?
    public var storageRegion: String?
    /// Seconds since 1970.
    public var expireTime: Int64?
    public var sourceContext: String?
    /// `meta.*` as the platform gets it (``CustomData/json(_:)``).
    public var meta: String?
    /// The cover as given, with its size and modification time (`path|size|mtime`).
    public var cover: String?
    /// The manifest's checksum claims.
    public var md5: String?
    public var sha256: String?
    /// An HLS package's files: how many, and a 64-bit FNV-1a hash of each one's path, size and time.
    public var segments: String?

    public init(_ item: IngestItem) {
        title = item.title
        description = item.description.flatMap { $0.isEmpty ? nil : $0 }
        tags = item.tags
        category = item.category
        procedure = item.procedure
        storageRegion = item.storageRegion
        expireTime = item.expireTime.map { Int64($0.timeIntervalSince1970.rounded(.down)) }
        sourceContext = item.sourceContext
        meta = CustomData.json(item.meta)
        cover = item.cover.map { cover in
            "\(cover.given)|\(cover.size.map(String.init) ?? "")|\(cover.modified.map { String($0) } ?? "")"
        }
        md5 = item.md5
        sha256 = item.sha256
        segments = item.segments.map { files in
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for file in files {
                for byte in "\(file.relative)|\(file.file.size ?? -1)|\(file.file.modified ?? 0)\n".utf8 {
                    hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
                }
            }
            return "\(files.count):\(String(hash, radix: 16))"
        }
    }

    /// The manifest field names (`title`, `storage_region`, `meta`, ...) and the JSON keys.
    enum CodingKeys: String, CodingKey, CaseIterable {
        case title, description, tags, category, procedure
        case storageRegion = "storage_region"
        case expireTime = "expire_time"
        case sourceContext = "source_context"
        case meta, cover, md5, sha256, segments
    }

    /// Canonical JSON: keys in ``CodingKeys`` order, absent values left out, tags in row order.
    public var encoded: String {
        var out = "{"
        func key(_ k: CodingKeys) {
            if out.utf8.count > 1 { out += "," }
            out += "\"" + k.rawValue + "\":"
        }
        func string(_ k: CodingKeys, _ value: String?) {
            guard let value else { return }
            key(k)
            Self.appendJSONString(value, to: &out)
        }
        string(.title, title)
        string(.description, description)
        if !tags.isEmpty {
            key(.tags)
            out += "["
            for (index, tag) in tags.enumerated() {
                if index > 0 { out += "," }
                Self.appendJSONString(tag, to: &out)
            }
            out += "]"
        }
        if let category {
            key(.category)
            out += String(category)
        }
        string(.procedure, procedure)
        string(.storageRegion, storageRegion)
        if let expireTime {
            key(.expireTime)
            out += String(expireTime)
        }
        string(.sourceContext, sourceContext)
        string(.meta, meta)
        string(.cover, cover)
        string(.md5, md5)
        string(.sha256, sha256)
        string(.segments, segments)
        return out + "}"
    }

    /// Reads ``encoded``; nil for anything else.
    public static func decode(_ text: String) -> RowValues? {
        try? JSONDecoder().decode(RowValues.self, from: Data(text.utf8))
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        title = try c.decodeIfPresent(String.self, forKey: .title) ?? ""
        description = try c.decodeIfPresent(String.self, forKey: .description)
        tags = try c.decodeIfPresent([String].self, forKey: .tags) ?? []
        category = try c.decodeIfPresent(Int.self, forKey: .category)
        procedure = try c.decodeIfPresent(String.self, forKey: .procedure)
        storageRegion = try c.decodeIfPresent(String.self, forKey: .storageRegion)
        expireTime = try c.decodeIfPresent(Int64.self, forKey: .expireTime)
        sourceContext = try c.decodeIfPresent(String.self, forKey: .sourceContext)
        meta = try c.decodeIfPresent(String.self, forKey: .meta)
        cover = try c.decodeIfPresent(String.self, forKey: .cover)
        md5 = try c.decodeIfPresent(String.self, forKey: .md5)
        sha256 = try c.decodeIfPresent(String.self, forKey: .sha256)
        segments = try c.decodeIfPresent(String.self, forKey: .segments)
    }

    /// The fields whose values differ from `old`, by manifest field name, in a fixed order.
    public func differences(from old: RowValues) -> [String] {
        var fields: [String] = []
        if title != old.title { fields.append(CodingKeys.title.rawValue) }
        if description != old.description { fields.append(CodingKeys.description.rawValue) }
        if tags != old.tags { fields.append(CodingKeys.tags.rawValue) }
        if category != old.category { fields.append(CodingKeys.category.rawValue) }
        if procedure != old.procedure { fields.append(CodingKeys.procedure.rawValue) }
        if storageRegion != old.storageRegion { fields.append(CodingKeys.storageRegion.rawValue) }
        if expireTime != old.expireTime { fields.append(CodingKeys.expireTime.rawValue) }
        if sourceContext != old.sourceContext { fields.append(CodingKeys.sourceContext.rawValue) }
        if meta != old.meta { fields.append(CodingKeys.meta.rawValue) }
        if cover != old.cover { fields.append(CodingKeys.cover.rawValue) }
        if md5 != old.md5 { fields.append(CodingKeys.md5.rawValue) }
        if sha256 != old.sha256 { fields.append(CodingKeys.sha256.rawValue) }
        if segments != old.segments { fields.append(CodingKeys.segments.rawValue) }
        return fields
    }

    /// Fields that describe the file itself: a new claim means new content.
    public static let contentFields: Set<String> = ["md5", "sha256"]

    static func appendJSONString(_ value: String, to out: inout String) {
        out += "\""
        // Most values need no escape: appended whole.
        if !value.utf8.contains(where: { $0 == 0x22 || $0 == 0x5C || $0 < 0x20 }) {
            out += value
            out += "\""
            return
        }
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}

/// What the journal holds of a committed item, handed back when a new delivery of its row differs.
public struct CommittedRevision: Sendable, Hashable {
    /// ``RowValues/encoded`` as committed.
    public var values: String
    public var size: Int64?
    /// Seconds since 1970, as validation saw it.
    public var modified: Double?
    public var md5: String?
    public var crc64: String?

    public init(values: String, size: Int64?, modified: Double?, md5: String?, crc64: String?) {
        self.values = values
        self.size = size
        self.modified = modified
        self.md5 = md5
        self.crc64 = crc64
    }
}

/// How a new delivery of a committed row differs from what was committed (a pure comparison;
/// ``between(_:_:profile:)`` makes it).
public struct Revision: Sendable, Hashable {
    /// The file differs for certain (its size, or a checksum claim): `size 100 → 120`.
    public var contentChange: String?
    /// Only the modification time differs: the file is read to compare its CRC-64 (or MD5).
    public var timeOnly: Bool
    /// Changed fields the platform's update call sets on the uploaded media.
    public var updatable: [String]
    /// Changed fields it cannot set on an uploaded media: the row needs a new upload to carry them.
    public var fixed: [String]
    /// The values committed before (for the tags to remove).
    public var old: RowValues?
    /// The new row's values.
    public var new: RowValues

    public init(contentChange: String?, timeOnly: Bool, updatable: [String], fixed: [String], old: RowValues?, new: RowValues) {
        self.contentChange = contentChange
        self.timeOnly = timeOnly
        self.updatable = updatable
        self.fixed = fixed
        self.old = old
        self.new = new
    }

    /// Nothing differs.
    public var isEmpty: Bool { contentChange == nil && !timeOnly && updatable.isEmpty && fixed.isEmpty }

    /// Compares `item` with what the journal committed for its row.
    public static func between(_ committed: CommittedRevision, _ item: IngestItem, profile: ProviderProfile) -> Revision {
        let new = RowValues(item)
        let old = RowValues.decode(committed.values)
        var content: String? = nil
        if let was = committed.size, let now = item.media.size, was != now {
            content = "size \(was) → \(now) bytes"
        } else if let claim = item.md5, let was = committed.md5, claim != was {
            content = "its md5 is now \(claim), the committed file's was \(was)"
        }
        let fields = old.map { new.differences(from: $0) } ?? []
        var updatable: [String] = []
        var fixed: [String] = []
        for field in fields {
            if RowValues.contentFields.contains(field) {
                if content == nil { content = "its \(field) claim changed" }
            } else if profile.updatableFields.contains(field) {
                updatable.append(field)
            } else {
                fixed.append(field)
            }
        }
        let timeOnly =
            content == nil && committed.modified != nil && item.media.modified != nil && committed.modified != item.media.modified
        return Revision(contentChange: content, timeOnly: timeOnly, updatable: updatable, fixed: fixed, old: old, new: new)
    }
}

/// The fields a metadata call sets on a committed media, and the tags it removes.
public struct MetadataUpdate: Sendable, Hashable, Codable {
    /// Manifest field names (`title`, `description`, `tags`, `category`, `expire_time`, `meta`).
    public var fields: [String]
    /// Tags the media had from the row's earlier delivery and the new one no longer has.
    public var removedTags: [String]
    /// A revision of an uploaded media (the platform's update call), not the metadata step right
    /// after an upload.
    public var isRevision: Bool

    public init(fields: [String], removedTags: [String] = [], isRevision: Bool = false) {
        self.fields = fields
        self.removedTags = removedTags
        self.isRevision = isRevision
    }

    /// The metadata step after the commit: the fields only the ``UploadActions/metadata`` call carries.
    public static func afterUpload(_ item: IngestItem, profile: ProviderProfile) -> MetadataUpdate {
        MetadataUpdate(
            fields: profile.actions.metadataFields.filter { field in
                switch field {
                case "description": item.description.map { !$0.isEmpty } ?? false
                case "tags": !item.tags.isEmpty
                default: false
                }
            })
    }

    /// The update of a committed media whose row changed in fields the platform can set.
    public static func revising(_ revision: Revision) -> MetadataUpdate {
        let removed = (revision.old?.tags ?? []).filter { !revision.new.tags.contains($0) }
        return MetadataUpdate(fields: revision.updatable, removedTags: removed, isRevision: true)
    }
}
