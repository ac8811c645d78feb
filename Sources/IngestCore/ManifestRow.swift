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
public struct ManifestRow: Sendable, Hashable {
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

    private var box: CopyOnWriteBox<Fields>

    /// All the stored values at once.
    public var fields: Fields {
        get { box.value }
        set { box = CopyOnWriteBox(newValue) }
    }

    public var location: SourceLocation {
        get { box.value.location }
        _modify { yield &unique().value.location }
    }

    public var id: String? {
        get { box.value.id }
        _modify { yield &unique().value.id }
    }

    public var path: String? {
        get { box.value.path }
        _modify { yield &unique().value.path }
    }

    public var cover: String? {
        get { box.value.cover }
        _modify { yield &unique().value.cover }
    }

    public var title: String? {
        get { box.value.title }
        _modify { yield &unique().value.title }
    }

    public var description: String? {
        get { box.value.description }
        _modify { yield &unique().value.description }
    }

    public var tags: [String] {
        get { box.value.tags }
        _modify { yield &unique().value.tags }
    }

    public var category: String? {
        get { box.value.category }
        _modify { yield &unique().value.category }
    }

    public var procedure: String? {
        get { box.value.procedure }
        _modify { yield &unique().value.procedure }
    }

    public var storageRegion: String? {
        get { box.value.storageRegion }
        _modify { yield &unique().value.storageRegion }
    }

    public var expireTime: String? {
        get { box.value.expireTime }
        _modify { yield &unique().value.expireTime }
    }

    public var sourceContext: String? {
        get { box.value.sourceContext }
        _modify { yield &unique().value.sourceContext }
    }

    public var md5: String? {
        get { box.value.md5 }
        _modify { yield &unique().value.md5 }
    }

    public var sha256: String? {
        get { box.value.sha256 }
        _modify { yield &unique().value.sha256 }
    }

    public var meta: [MetaEntry] {
        get { box.value.meta }
        _modify { yield &unique().value.meta }
    }

    /// Problems found while reading this row (always about this row, never fatal to the manifest).
    public var readProblems: [Diagnostic] {
        get { box.value.readProblems }
        _modify { yield &unique().value.readProblems }
    }

    private mutating func unique() -> CopyOnWriteBox<Fields> {
        if !isKnownUniquelyReferenced(&box) { box = CopyOnWriteBox(box.value) }
        return box
    }

    public init(
        location: SourceLocation, id: String? = nil, path: String? = nil, cover: String? = nil,
        title: String? = nil, description: String? = nil, tags: [String] = [], category: String? = nil,
        procedure: String? = nil, storageRegion: String? = nil, expireTime: String? = nil,
        sourceContext: String? = nil, md5: String? = nil, sha256: String? = nil,
        meta: [MetaEntry] = [], readProblems: [Diagnostic] = []
    ) {
        box = CopyOnWriteBox(Fields(
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

    public static func == (lhs: ManifestRow, rhs: ManifestRow) -> Bool { lhs.box === rhs.box || lhs.box.value == rhs.box.value }

    public func hash(into hasher: inout Hasher) { hasher.combine(box.value) }
}

/// What a manifest reader hands out, in document order.
public enum ManifestRecord: Sendable {
    /// A data row (possibly carrying reader problems).
    case row(ManifestRow)
    /// A finding about the manifest itself (header, unknown column, DTD refused, ...).
    case diagnostic(Diagnostic)
}
