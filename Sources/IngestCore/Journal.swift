import Foundation

/// Where an item is in its life (architecture §1). The journal stores it; ``ItemLifecycle`` says
/// which moves are allowed.
///
/// `pending → applied → uploading → uploaded → committing → committed`, with `failed`,
/// `invalid` and `skipped` (a duplicate of committed content) as ends. `applied`, `uploading`,
/// `uploaded` and `committing` are in flight: a resume continues them.
public enum ItemState: String, Sendable, Codable, CaseIterable {
    case pending, applied, uploading, uploaded, committing, committed, failed, invalid, skipped

    /// Started and not finished: a resume picks it up from the journal.
    public var isInFlight: Bool { self == .applied || self == .uploading || self == .uploaded || self == .committing }
}

/// One journalled change of an item, recorded before the side effect it announces (or right after
/// the platform's answer that it records).
public enum JournalEvent: Sendable {
    /// ApplyUpload answered: the session (its credentials are kept only until they expire), the
    /// item as it will be uploaded, and the SourceContext sent.
    case applied(UploadSession, item: IngestItem, sourceContext: String)
    /// The session's credentials were refreshed in place (Alibaba RefreshUploadVideo): same
    /// session and object, new credentials; a multipart upload goes on.
    case credentialsRefreshed(UploadSession)
    /// The media's multipart upload was initiated (before any part is sent).
    case multipartStarted(uploadID: String)
    /// COS confirmed one part.
    case partConfirmed(number: Int, etag: String, size: Int64)
    /// The store has one file of an HLS package (its index in ``IngestItem/segments``), checked by its CRC-64.
    case segmentConfirmed(number: Int, crc64: String)
    /// Media and cover are in storage; `md5` is the media's whole-file MD5 (when known), `crc64`
    /// its CRC-64/ECMA as the store checked it (decimal).
    case uploaded(md5: String?, crc64: String? = nil)
    /// CommitUpload is about to be sent (a resume retries it with the same session key).
    case committing
    /// The platform gave the media's FileId. `recovered`: found by a search after the answer to
    /// CommitUpload was lost. `metadataPending`: the metadata call comes next (the item stays in
    /// the journal's resume set until it is made).
    case committed(RemoteMedia, recovered: Bool, metadataPending: Bool = false)
    /// The metadata call (Tencent ModifyMediaInfo) was made.
    case metadataApplied
    /// A new delivery of a committed row changed fields the platform can set on the media: the
    /// update call (``MetadataUpdate``) comes next, with the new row; until it is made the item
    /// stays in the resume set.
    case revising(MetadataUpdate, item: IngestItem)
    /// The update call was made: the journal now holds the new row's values (the report says
    /// `updated`, with the fields).
    case revisionApplied(RowValues, fields: [String])
    /// A new delivery of a committed row differs in a way the platform cannot take in place (the
    /// file, or a field only an upload carries), and it is not replaced: the report says
    /// `changed`, with why.
    case changeNoted(String)
    /// Only the file's modification time changed; its content is the committed one.
    case contentConfirmed(modified: Double?)
    /// A changed row is uploaded anew (`--replace-changed`): the item starts over with the new row,
    /// keeping the committed media's id as the one it replaces (deleted after the new commit when
    /// `deleteReplaced`).
    case replacing(item: IngestItem, sourceContext: String, values: RowValues, deleteReplaced: Bool, reason: String)
    /// The replaced media was deleted (or the platform no longer had it).
    case replacedDeleted
    /// Deleting the replaced media failed: a next run tries again.
    case replacedDeleteFailed(code: String, message: String)
    /// The metadata call failed: the media is committed, its metadata is retried on the next run.
    case metadataFailed(code: String, message: String)
    /// The session cannot be used again (expired, or refused): the item starts over from ApplyUpload.
    case sessionAbandoned
    /// The item cannot succeed as it is.
    case failed(code: String, message: String, attempts: Int)
    /// Not uploaded: the same content (size and MD5) is committed already.
    case duplicate(of: String, md5: String)
}

/// The allowed moves of ``ItemState``, as a pure function (tested on its own). The journal applies
/// an event only to an item in the state the engine expects (compare-and-set).
public enum ItemLifecycle {
    /// The state after `event`, or nil when `event` is not allowed in `state`.
    public static func next(_ state: ItemState, _ event: JournalEvent) -> ItemState? {
        switch (state, event) {
        case (.pending, .applied), (.applied, .applied), (.uploading, .applied): return .applied
        case (.applied, .credentialsRefreshed): return .applied
        case (.uploading, .credentialsRefreshed): return .uploading
        case (.applied, .multipartStarted), (.uploading, .multipartStarted): return .uploading
        case (.uploading, .partConfirmed): return .uploading
        case (.applied, .segmentConfirmed), (.uploading, .segmentConfirmed): return .uploading
        case (.applied, .uploaded), (.uploading, .uploaded): return .uploaded
        case (.uploaded, .committing), (.committing, .committing): return .committing
        case (.committing, .committed): return .committed
        case (.committed, .metadataApplied), (.committed, .metadataFailed): return .committed
        case (.committed, .revising), (.committed, .revisionApplied), (.committed, .changeNoted): return .committed
        case (.committed, .contentConfirmed), (.committed, .replacedDeleted), (.committed, .replacedDeleteFailed): return .committed
        case (.committed, .replacing): return .pending
        case (let from, .sessionAbandoned) where from.isInFlight: return .pending
        case (let from, .failed) where from == .pending || from.isInFlight: return .failed
        case (.pending, .duplicate): return .skipped
        default: return nil
        }
    }
}

/// One manifest as a run read it.
public struct ManifestFingerprint: Sendable, Hashable, Codable {
    /// As given on the command line.
    public var name: String
    /// Absolute path (the item's identity together with its id); `-` for standard input.
    public var path: String
    /// SHA-256 of the file's bytes, hex; nil for standard input.
    public var sha256: String?

    public init(name: String, path: String, sha256: String?) {
        self.name = name
        self.path = path
        self.sha256 = sha256
    }
}

/// One invocation of `vodingest ingest` on a state directory.
public struct RunRecord: Sendable, Hashable, Codable {
    public var id: String
    /// Unix milliseconds.
    public var startedAt: Int64
    public var finishedAt: Int64?
    public var toolVersion: String
    public var manifests: [ManifestFingerprint]
    /// The options that change what is uploaded (provider, endpoint, procedure, part size, ...).
    public var options: [String: String]
    /// `running`, `finished`, `stopped`, `interrupted`; `running` after a crash.
    public var status: String

    public init(
        id: String, startedAt: Int64, finishedAt: Int64? = nil, toolVersion: String, manifests: [ManifestFingerprint],
        options: [String: String], status: String = "running"
    ) {
        self.id = id
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.toolVersion = toolVersion
        self.manifests = manifests
        self.options = options
        self.status = status
    }
}

/// What the journal already knows of a row that a run registers.
public enum Registration: Sendable {
    /// Upload it (new, pending, or failed before). `duplicates`: committed items of the same size,
    /// to compare MD5s with before uploading.
    case start(key: Int64, duplicates: [CommittedContent])
    /// Committed before: nothing to do.
    case committed(key: Int64, RemoteMedia)
    /// Skipped before as a duplicate (of this FileId).
    case duplicate(key: Int64, of: String)
    /// In flight from an earlier run: the resume of ``JournalStore/inFlight()`` carries it on.
    case inFlight(key: Int64)
    /// A replacement (`--replace-changed`) an earlier run did not finish (it failed, or was not
    /// started): upload it, as the replacement of this media.
    case replacement(key: Int64, replaces: String)
    /// Committed before, and this delivery of the row differs from what was committed (its values,
    /// its file's size or modification time): the engine decides (update in place, replace, or
    /// report it changed).
    case revised(key: Int64, RemoteMedia, CommittedRevision)
}

/// A committed item's content, to tell a new row's file is the same.
public struct CommittedContent: Sendable, Hashable {
    public var fileID: String
    public var md5: String?
    /// CRC-64/ECMA (decimal), known for every item uploaded since journal migration v3.
    public var crc64: String?

    public init(fileID: String, md5: String?, crc64: String? = nil) {
        self.fileID = fileID
        self.md5 = md5
        self.crc64 = crc64
    }

    /// Whether a file with these digests is this content: by MD5 where both sides know it, else by CRC-64.
    public func matches(md5 other: String, crc64 otherCRC: String) -> Bool {
        if let md5 { return md5 == other }
        if let crc64 { return crc64 == otherCRC }
        return false
    }
}

/// An item a run resumes from the journal: where it was, and what it needs to go on.
public struct ResumePoint: Sendable {
    public var key: Int64
    public var state: ItemState
    public var item: IngestItem
    public var sourceContext: String
    /// With its credentials when they have not expired; with blank ones (``TemporaryCredentials/expiresAt``
    /// in the past) when they have: a fresh ApplyUpload then, or an in-place refresh where the platform can.
    public var session: UploadSession?
    /// The media's multipart upload, when one was initiated.
    public var uploadID: String?
    /// Parts COS confirmed, as journalled (the store's ListParts decides what is really there).
    public var parts: [Int: String]
    /// The HLS package's files the store has under this session (indexes into ``IngestItem/segments``).
    public var segments: Set<Int> = []
    public var md5: String?
    /// CRC-64/ECMA of the media as uploaded (decimal), once it was.
    public var crc64: String?
    /// The committed media of an item whose metadata call (or replaced-media deletion) is still to be made.
    public var fileID: String?
    /// The metadata call still to be made on the committed media: nil for the step right after the
    /// upload (``MetadataUpdate/afterUpload(_:profile:)``), or a revision's update.
    public var metadataUpdate: MetadataUpdate?
    /// Whether the metadata call is still to be made (a committed item in the resume set may only
    /// have its replaced media to delete).
    public var metadataPending: Bool = false
    /// The media this item replaces (`--replace-changed`), and whether it is to be deleted once the
    /// item is committed.
    public var replacedFileID: String?
    public var deleteReplaced: Bool = false
    /// Unix seconds of the ApplyUpload, to bound the search for a lost commit.
    public var appliedAt: Int64?
    public var attempts: Int

    public init(
        key: Int64, state: ItemState, item: IngestItem, sourceContext: String, session: UploadSession?, uploadID: String?,
        parts: [Int: String], md5: String?, crc64: String? = nil, appliedAt: Int64?, attempts: Int, fileID: String? = nil
    ) {
        self.fileID = fileID
        self.crc64 = crc64
        self.key = key
        self.state = state
        self.item = item
        self.sourceContext = sourceContext
        self.session = session
        self.uploadID = uploadID
        self.parts = parts
        self.md5 = md5
        self.appliedAt = appliedAt
        self.attempts = attempts
    }
}

/// One item as the report shows it: everything the journal knows, no secrets.
public struct JournalRecord: Sendable, Hashable, Codable {
    public var manifest: String
    public var line: Int
    public var id: String
    public var path: String
    public var title: String?
    public var size: Int64?
    public var md5: String?
    /// CRC-64/ECMA of the media as uploaded (decimal).
    public var crc64: String?
    /// Why the metadata call after the commit failed (the media is committed; a next run retries it).
    public var metadataError: String?
    public var state: ItemState
    public var sourceContext: String?
    public var fileID: String?
    public var mediaURL: String?
    public var coverURL: String?
    public var duplicateOf: String?
    public var errorCode: String?
    public var errorMessage: String?
    public var attempts: Int
    public var applyRequestID: String?
    public var commitRequestID: String?
    public var recovered: Bool
    /// Unix milliseconds.
    public var createdAt: Int64
    public var updatedAt: Int64
    public var committedAt: Int64?
    /// ``RemoteMedia/status`` at completion.
    public var platformStatus: String?
    /// What a later delivery of the row did: `updated` (metadata set on the media in place),
    /// `changed` (differs, not replaced), `replacing` (a new upload under way), `replaced`.
    public var change: String?
    /// The fields or the file difference behind ``change``.
    public var changeDetail: String?
    /// Unix milliseconds of ``change``.
    public var changedAt: Int64?
    /// The media a `replaced` (or `replacing`) item replaces, and whether it was deleted.
    public var replacedFileID: String?
    public var replacedDeleted: Bool = false
    /// Why deleting the replaced media failed (a next run tries again).
    public var deleteError: String?
    /// What the platform's events said after the upload (``ProcessingState``).
    public var uploadEventAt: Int64?
    public var procedureTaskID: String?
    public var procedureStatus: String?
    public var procedureStatusAt: Int64?

    public init(
        manifest: String, line: Int, id: String, path: String, title: String?, size: Int64?, md5: String?, state: ItemState,
        sourceContext: String?, fileID: String?, mediaURL: String?, coverURL: String?, duplicateOf: String?, errorCode: String?,
        errorMessage: String?, attempts: Int, applyRequestID: String?, commitRequestID: String?, recovered: Bool, createdAt: Int64,
        updatedAt: Int64, committedAt: Int64?, platformStatus: String? = nil, crc64: String? = nil, metadataError: String? = nil
    ) {
        self.metadataError = metadataError
        self.crc64 = crc64
        self.platformStatus = platformStatus
        self.manifest = manifest
        self.line = line
        self.id = id
        self.path = path
        self.title = title
        self.size = size
        self.md5 = md5
        self.state = state
        self.sourceContext = sourceContext
        self.fileID = fileID
        self.mediaURL = mediaURL
        self.coverURL = coverURL
        self.duplicateOf = duplicateOf
        self.errorCode = errorCode
        self.errorMessage = errorMessage
        self.attempts = attempts
        self.applyRequestID = applyRequestID
        self.commitRequestID = commitRequestID
        self.recovered = recovered
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.committedAt = committedAt
    }
}

/// A row that failed validation, as the journal keeps it.
public struct InvalidRow: Sendable, Hashable {
    public var manifest: ManifestFingerprint
    public var line: Int
    public var id: String
    public var path: String
    public var code: String
    public var message: String

    public init(manifest: ManifestFingerprint, line: Int, id: String, path: String, code: String, message: String) {
        self.manifest = manifest
        self.line = line
        self.id = id
        self.path = path
        self.code = code
        self.message = message
    }
}

/// The durable record of a state directory's runs and items (architecture §3, `JournalStore`).
/// Every method is atomic; ``record(_:from:_:)`` is durable when it returns, so the engine calls it
/// before the side effect it announces.
public protocol JournalStore: Sendable {
    /// Records a run's start.
    func begin(_ run: RunRecord) async throws
    /// Records how a run ended (`finished`, `stopped`, `interrupted`) and its summary (JSON).
    func end(runID: String, status: String, summary: String?) async throws
    /// Items an earlier run left in flight, oldest first.
    func inFlight() async throws -> [ResumePoint]
    /// Adds valid rows (or finds them) and says what to do with each, in order. Rows that failed
    /// (or were invalid) before start again; rows skipped as duplicates too when `reopenDuplicates`.
    /// `values` are the rows' ``RowValues/encoded``: a committed row whose values, file size or
    /// modification time differ from what was committed is ``Registration/revised(key:_:_:)``.
    /// A committed item that has no values yet (journalled before they were kept) takes these as
    /// what was committed.
    func register(
        _ items: [IngestItem], manifest: ManifestFingerprint, runID: String, sourceContexts: [String], values: [String],
        reopenDuplicates: Bool
    ) async throws -> [Registration]
    /// Records rows that failed validation (an item committed before stays committed).
    func registerInvalid(_ rows: [InvalidRow], runID: String) async throws
    /// Applies `event` to the item `key` if it is in `state`.
    /// - Throws: ``IngestError`` `journal.conflict` when it is not (nothing is written).
    func record(_ key: Int64, from state: ItemState, _ event: JournalEvent) async throws
    /// Committed media whose processing is still awaited (``ProcessingState/done`` false), committed
    /// at or after `committedSince` (Unix milliseconds; nil: any), with a key above `after`, by key.
    func awaitingProcessing(committedSince: Int64?, after: Int64, limit: Int) async throws -> [ProcessingState]
    /// How many media ``awaitingProcessing(committedSince:after:limit:)`` would list in all.
    func countAwaitingProcessing(committedSince: Int64?) async throws -> Int
    /// The processing states of the committed media of these ids that the journal has, by id.
    func processingStates(fileIDs: [String]) async throws -> [String: ProcessingState]
    /// Of these media ids, those the journal knows: committed items' and the media they replaced.
    func knownMedia(_ fileIDs: [String]) async throws -> Set<String>
    /// Records processing states (durable when it returns: only then are their events confirmed).
    func recordProcessing(_ states: [ProcessingState]) async throws
    /// Every item (of the manifests at these absolute paths, when given), by manifest and line.
    func records(manifestPaths: [String]?, _ body: (JournalRecord) throws -> Void) throws
    /// Every run, oldest first.
    func runs() async throws -> [RunRecord]
}

/// How a source file is no longer what validation saw.
public struct SourceChange: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// Not there any more: deleted, or moved away.
        case missing
        /// There, but it cannot be examined or read (permissions, an I/O error).
        case unreadable
        /// Another file under the same name, or not a regular file any more.
        case replaced
        /// Its size or modification time changed.
        case modified
    }
    public var kind: Kind
    /// What was seen, for a message: `its size was 10 bytes and is 12 now`.
    public var detail: String

    public init(_ kind: Kind, _ detail: String) {
        self.kind = kind
        self.detail = detail
    }

    /// The code an item failed by it carries: `source.missing`, `source.unreadable`, `source.modified`.
    public var code: String {
        switch kind {
        case .missing: "source.missing"
        case .unreadable: "source.unreadable"
        case .replaced, .modified: "source.modified"
        }
    }

    public var description: String { detail }
}

/// The engine's view of the source files (the CLI gives the local file system).
public protocol SourceFiles: Sendable {
    /// How `file` is no longer as validated (gone, unreadable, replaced, or its size or
    /// modification time changed), or nil.
    func change(of file: FileReference) -> SourceChange?
    /// MD5 (lower-case hex) and CRC-64/ECMA (decimal) of the whole file, in one read.
    func digest(of file: FileReference) async throws -> (md5: String, crc64: String)
}
