import Foundation

/// A file referenced by a row, as resolved by validation.
public struct FileReference: Sendable, Hashable, Codable {
    /// The path exactly as the manifest gave it.
    public var given: String
    /// Absolute path after resolving against the root (and, with file checks, symlinks).
    public var resolved: String
    /// Size in bytes; `nil` when file checks were skipped.
    public var size: Int64?
    /// Modification time (seconds since 1970) seen at validation; later used to detect changes.
    public var modified: Double?
    /// The extension, lower-cased, without the dot (`mp4`); `nil` when the name has none.
    public var fileExtension: String?

    public init(given: String, resolved: String, size: Int64?, modified: Double?, fileExtension: String?) {
        self.given = given
        self.resolved = resolved
        self.size = size
        self.modified = modified
        self.fileExtension = fileExtension
    }
}

/// A validated row, ready to plan and upload.
public struct IngestItem: Sendable, Hashable {
    /// The stored values, in one heap box: a copy is one reference count, not one per string
    /// (values cross the reading, checking and settling threads on the million-row path).
    public struct Fields: Sendable, Hashable {
        public var location: SourceLocation
        /// The partner's reference; derived from the path when the manifest gave none.
        public var id: String
        public var media: FileReference
        /// What the platform is told the media type is: the extension, or the sniffed type of a
        /// file named without one. `nil` when neither is known.
        public var mediaType: String?
        public var cover: FileReference?
        public var title: String
        public var description: String?
        public var tags: [String]
        public var category: Int?
        public var procedure: String?
        public var storageRegion: String?
        public var expireTime: Date?
        public var sourceContext: String?
        /// Expected checksums (lower-case hex) when the manifest gave them.
        public var md5: String?
        public var sha256: String?
        public var meta: [MetaEntry]
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

    /// The partner's reference; derived from the path when the manifest gave none.
    public var id: String {
        get { box.value.id }
        _modify { yield &unique().value.id }
    }

    public var media: FileReference {
        get { box.value.media }
        _modify { yield &unique().value.media }
    }

    /// What the platform is told the media type is: the extension, or the sniffed type of a
    /// file named without one. `nil` when neither is known.
    public var mediaType: String? {
        get { box.value.mediaType }
        _modify { yield &unique().value.mediaType }
    }

    public var cover: FileReference? {
        get { box.value.cover }
        _modify { yield &unique().value.cover }
    }

    public var title: String {
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

    public var category: Int? {
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

    public var expireTime: Date? {
        get { box.value.expireTime }
        _modify { yield &unique().value.expireTime }
    }

    public var sourceContext: String? {
        get { box.value.sourceContext }
        _modify { yield &unique().value.sourceContext }
    }

    /// Expected checksums (lower-case hex) when the manifest gave them.
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

    private mutating func unique() -> CopyOnWriteBox<Fields> {
        if !isKnownUniquelyReferenced(&box) { box = CopyOnWriteBox(box.value) }
        return box
    }

    public init(
        location: SourceLocation, id: String, media: FileReference, mediaType: String?,
        cover: FileReference?, title: String, description: String?, tags: [String], category: Int?,
        procedure: String?, storageRegion: String?, expireTime: Date?, sourceContext: String?,
        md5: String?, sha256: String?, meta: [MetaEntry]
    ) {
        box = CopyOnWriteBox(Fields(
            location: location,
            id: id,
            media: media,
            mediaType: mediaType,
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
            meta: meta
        ))
    }

    public static func == (lhs: IngestItem, rhs: IngestItem) -> Bool { lhs.box === rhs.box || lhs.box.value == rhs.box.value }

    public func hash(into hasher: inout Hasher) { hasher.combine(box.value) }
}

/// The verdict on one row: an item when it has no error, and every diagnostic either way.
public struct RowOutcome: Sendable {
    public var location: SourceLocation
    public var id: String?
    /// The validated item; `nil` for an invalid row, and for every row when validation was asked not
    /// to build items (``isValid`` still tells).
    public var item: IngestItem?
    public var diagnostics: [Diagnostic]
    /// Whether the row has no error diagnostic (it yields an item).
    public let isValid: Bool

    /// - Parameter isValid: defaults to whether `item` is given.
    public init(location: SourceLocation, id: String?, item: IngestItem?, diagnostics: [Diagnostic], isValid: Bool? = nil) {
        self.location = location
        self.id = id
        self.item = item
        self.diagnostics = diagnostics
        self.isValid = isValid ?? (item != nil)
    }
}
