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
    /// The file (device and inode) seen at validation: a file replaced by another under the same
    /// name (a rename over it, a copy that keeps the size and time) is told apart by it. `nil`
    /// when file checks were skipped.
    public var identity: FileIdentity?

    public init(
        given: String, resolved: String, size: Int64?, modified: Double?, fileExtension: String?, identity: FileIdentity? = nil
    ) {
        self.given = given
        self.resolved = resolved
        self.size = size
        self.modified = modified
        self.fileExtension = fileExtension
        self.identity = identity
    }
}

/// A file's device and inode numbers: which file a name pointed at.
public struct FileIdentity: Sendable, Hashable, Codable, CustomStringConvertible {
    public var device: UInt64
    public var inode: UInt64
    public init(device: UInt64, inode: UInt64) {
        self.device = device
        self.inode = inode
    }
    public var description: String { "inode \(inode) on device \(device)" }
}

/// A validated row, ready to plan and upload.
@dynamicMemberLookup
public struct IngestItem: CopyOnWriteValue {
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
        /// An HLS package's files (the media is its top playlist): every segment and playlist it
        /// names, recursively, each by its path relative to the top playlist's folder. Nil for a
        /// single file.
        public var segments: [Segment]? = nil
    }

    /// One file of an HLS package: where it goes under the media's storage folder (its path
    /// relative to the top playlist's folder), and the file.
    public struct Segment: Sendable, Hashable, Codable {
        public var relative: String
        public var file: FileReference

        public init(relative: String, file: FileReference) {
            self.relative = relative
            self.file = file
        }
    }

    public var storage: CopyOnWriteBox<Fields>

    public init(
        location: SourceLocation, id: String, media: FileReference, mediaType: String?,
        cover: FileReference?, title: String, description: String?, tags: [String], category: Int?,
        procedure: String?, storageRegion: String?, expireTime: Date?, sourceContext: String?,
        md5: String?, sha256: String?, meta: [MetaEntry], segments: [Segment]? = nil
    ) {
        storage = CopyOnWriteBox(
            Fields(
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
                meta: meta,
                segments: segments
            ))
    }

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

extension IngestItem.Fields: Codable {}

extension IngestItem {
    /// Bytes an upload of the item sends: the media, its cover and an HLS package's files.
    public var uploadBytes: Int64 {
        (self.media.size ?? 0) + (self.cover?.size ?? 0) + (self.segments ?? []).reduce(0) { $0 + ($1.file.size ?? 0) }
    }
}

/// Encoded as its fields (the journal keeps in-flight items this way).
extension IngestItem: Codable {
    public init(from decoder: any Decoder) throws {
        storage = CopyOnWriteBox(try Fields(from: decoder))
    }

    public func encode(to encoder: any Encoder) throws {
        try storage.value.encode(to: encoder)
    }
}
