import Foundation

/// One `meta.<name>` entry of a row: custom data handed to the platform's custom-data field.
public struct MetaEntry: Sendable, Hashable, Codable {
    public var name: String
    public var value: String
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// A manifest row as read, before validation: raw strings, untrimmed semantics left to the validator.
///
/// CSV and XML readers both produce this type; the vocabulary is the same (see the README).
/// `readProblems` holds what the reader itself found wrong (a ragged CSV record, invalid UTF-8);
/// a row with a reader error is reported and never uploaded.
@dynamicMemberLookup
public struct ManifestRow: CopyOnWriteValue {
    /// The stored values, in one heap box: a copy is one reference count, not one per string
    /// (values cross the reading, checking and settling threads on the million-row path).
    public struct Fields: Sendable, Hashable {
        public var location: SourceLocation
        public var id: String?
        public var path: String?
        public var cover: String?
        public var title: String?
        public var description: String?
        public var tags: [String]
        public var category: String?
        public var procedure: String?
        public var storageRegion: String?
        public var expireTime: String?
        public var sourceContext: String?
        public var md5: String?
        public var sha256: String?
        public var meta: [MetaEntry]
        /// Problems found while reading this row (always about this row, never fatal to the manifest).
        public var readProblems: [Diagnostic]
    }

    public var storage: CopyOnWriteBox<Fields>

    public init(
        location: SourceLocation, id: String? = nil, path: String? = nil, cover: String? = nil,
        title: String? = nil, description: String? = nil, tags: [String] = [], category: String? = nil,
        procedure: String? = nil, storageRegion: String? = nil, expireTime: String? = nil,
        sourceContext: String? = nil, md5: String? = nil, sha256: String? = nil,
        meta: [MetaEntry] = [], readProblems: [Diagnostic] = []
    ) {
        storage = CopyOnWriteBox(
            Fields(
                location: location,
                id: id,
                path: path,
                cover: cover,
                title: title,
                description: description,
                tags: tags,
                category: category,
                procedure: procedure,
                storageRegion: storageRegion,
                expireTime: expireTime,
                sourceContext: sourceContext,
                md5: md5,
                sha256: sha256,
                meta: meta,
                readProblems: readProblems
            ))
    }

}

/// What a manifest reader hands out, in document order.
public enum ManifestRecord: Sendable {
    /// A data row (possibly carrying reader problems).
    case row(ManifestRow)
    /// A finding about the manifest itself (header, unknown column, DTD refused, ...).
    case diagnostic(Diagnostic)
}

/// The JSON a row's `meta.*` columns become on the platform (Tencent SessionContext, Alibaba
/// UserData's `Extend`): `{"name":"value",...}` with sorted names and unescaped slashes, written once
/// here so that validation measures exactly what a provider sends.
public enum CustomData {
    /// Nil for a row without `meta.*` columns.
    public static func json(_ meta: [MetaEntry]) -> String? {
        guard !meta.isEmpty else { return nil }
        var object: [String: String] = [:]
        for entry in meta { object[entry.name] = entry.value }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(object)).map { String(decoding: $0, as: UTF8.self) }
    }
}
