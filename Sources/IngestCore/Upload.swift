import Foundation

/// Temporary object-storage credentials handed out by the platform for one upload session.
///
/// Secret: `description` and `debugDescription` never show the key or the token, so the value
/// cannot leak into a log line or an error message by interpolation.
public struct TemporaryCredentials: Sendable, Hashable, Codable, CustomStringConvertible, CustomDebugStringConvertible {
    public var secretID: String
    public var secretKey: String
    public var token: String
    /// Unix seconds after which the platform refuses them.
    public var expiresAt: Int64

    public init(secretID: String, secretKey: String, token: String, expiresAt: Int64) {
        self.secretID = secretID
        self.secretKey = secretKey
        self.token = token
        self.expiresAt = expiresAt
    }

    public var description: String { "TemporaryCredentials(expiresAt: \(expiresAt), <redacted>)" }
    public var debugDescription: String { description }
}

/// Where one object goes in the platform's object storage.
public struct ObjectLocation: Sendable, Hashable, Codable {
    public var bucket: String
    public var region: String
    /// The object key, without a leading `/`.
    public var key: String
    /// The store's endpoint when the platform names it per upload (Alibaba UploadAddress.Endpoint,
    /// `https://oss-cn-shanghai.aliyuncs.com`); nil when it follows from bucket and region (COS).
    public var endpoint: String?

    public init(bucket: String, region: String, key: String, endpoint: String? = nil) {
        self.bucket = bucket
        self.region = region
        self.key = key
        self.endpoint = endpoint
    }
}

/// What the platform answered to "I want to upload this item" (Tencent ApplyUpload, Alibaba
/// CreateUploadVideo).
public struct UploadSession: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Opaque key to commit with (Tencent `VodSessionKey`), or the media's id when the platform
    /// gives it up front (Alibaba `VideoId`).
    public var sessionKey: String
    public var media: ObjectLocation
    /// Where the cover goes under the same credentials (Tencent); nil when the platform uploads
    /// covers on their own (``CoverUpload``) or the item has none.
    public var cover: ObjectLocation?
    public var credentials: TemporaryCredentials
    public var requestID: String
    /// The cover's URL as the media was created with it (Alibaba: the image's ImageURL as CoverURL).
    public var coverURL: String?
    /// The token the platform keeps with the media to find it again, when it is not the request's
    /// SourceContext (Alibaba: the ReferenceId sent). Journalled and reported as the source context.
    public var sourceContext: String?
    /// Where an HLS package's files go: each at this prefix and its path relative to the top
    /// playlist (Tencent: the media's storage folder; Alibaba: UploadAddress ObjectPrefix). Nil
    /// when the platform gave none (a package cannot be uploaded then).
    public var segmentPrefix: String?

    public init(
        sessionKey: String, media: ObjectLocation, cover: ObjectLocation?, credentials: TemporaryCredentials, requestID: String,
        coverURL: String? = nil, sourceContext: String? = nil, segmentPrefix: String? = nil
    ) {
        self.segmentPrefix = segmentPrefix
        self.sourceContext = sourceContext
        self.sessionKey = sessionKey
        self.media = media
        self.cover = cover
        self.credentials = credentials
        self.requestID = requestID
        self.coverURL = coverURL
    }

    public var description: String { "UploadSession(media: \(media.bucket)/\(media.key), request: \(requestID))" }
}

/// A cover uploaded on its own, before its media is created (Alibaba CreateUploadImage): where
/// the image goes, the credentials that cover only it, and the URL the media is then created with.
public struct CoverUpload: Sendable, Hashable, CustomStringConvertible {
    public var location: ObjectLocation
    public var credentials: TemporaryCredentials
    /// What the media gets as its cover (Alibaba ImageURL, sent as CoverURL).
    public var url: String
    /// The platform's id of the image.
    public var imageID: String
    public var requestID: String

    public init(location: ObjectLocation, credentials: TemporaryCredentials, url: String, imageID: String, requestID: String) {
        self.location = location
        self.credentials = credentials
        self.url = url
        self.imageID = imageID
        self.requestID = requestID
    }

    public var description: String { "CoverUpload(\(location.bucket)/\(location.key), image \(imageID))" }
}

/// A committed media on the platform.
public struct RemoteMedia: Sendable, Hashable, Codable {
    public var fileID: String
    public var mediaURL: String?
    public var coverURL: String?
    public var requestID: String
    /// The platform's status of the media when the upload was completed, where it tells one
    /// (Alibaba: the source file's status from GetMezzanineInfo, `Normal`); nil for Tencent.
    public var status: String?

    public init(fileID: String, mediaURL: String?, coverURL: String?, requestID: String, status: String? = nil) {
        self.fileID = fileID
        self.mediaURL = mediaURL
        self.coverURL = coverURL
        self.requestID = requestID
        self.status = status
    }
}

/// What to do about a failed step: decided by the provider from the platform's answer, acted on
/// by the engine.
public enum Disposition: String, Sendable, Hashable, Codable {
    /// Transient (server error, connection reset, timeout): try the step again after a backoff.
    case retry
    /// The platform says "too many requests": slow the shared API rate down, then retry.
    case throttled
    /// The session or its temporary credentials expired: refresh them in place where the platform
    /// can (``ProviderProfile/credentialRenewal``), else start the item again from prepare.
    case renewSession
    /// The item cannot succeed as it is (bad parameter, refused file): fail it, go on with the others.
    case failItem
    /// Nothing can succeed (bad credentials, service not activated): stop the run.
    case abortRun
}

/// A step of an upload that failed, as data: the platform's code and message, its request id, and
/// the disposition. Messages never carry secrets.
public struct ProviderError: Error, Sendable, Hashable, CustomStringConvertible {
    /// `apply`, `upload`, `cover`, `commit`, ...
    public var step: String
    /// The platform's error code (`RequestLimitExceeded`, `SlowDown`, ...) or a local one (`network.timeout`).
    public var code: String
    public var message: String
    public var requestID: String?
    public var httpStatus: Int?
    public var disposition: Disposition

    public init(step: String, code: String, message: String, requestID: String? = nil, httpStatus: Int? = nil, disposition: Disposition) {
        self.step = step
        self.code = code
        self.message = message
        self.requestID = requestID
        self.httpStatus = httpStatus
        self.disposition = disposition
    }

    public var description: String {
        "\(step): \(code): \(message)" + (requestID.map { " (request \($0))" } ?? "")
    }

    /// The platform was not reached (`network.connection`: refused, reset, unreachable;
    /// `network.timeout`: no answer in time), as opposed to an answer that was an error.
    public var isUnreachable: Bool { code == "network.connection" || code == "network.timeout" }
}

/// What a run asks of the platform for one item, on top of the item's own metadata.
public struct UploadRequest: Sendable, Hashable {
    public var item: IngestItem
    /// Sent as SourceContext: the manifest's value, or a token naming the run and the item.
    public var sourceContext: String
    /// Run-wide overrides (`--procedure`, `--storage-region`, `--class-id`), used when the row has none.
    public var procedure: String?
    public var storageRegion: String?
    public var classID: Int?
    /// Passed through to the platform's event callbacks (Tencent SessionContext, at most 1000 characters).
    public var sessionContext: String?
    /// A token of the row that is the same in every run on this state directory (Alibaba
    /// ReferenceId): a create whose answer was lost is found again by it.
    public var rowToken: String
    /// The cover already uploaded on its own (``CoverUpload/url``), for platforms that create the
    /// media with it.
    public var coverURL: String?
    /// The media this upload replaces (`--replace-changed`): it keeps the row's own unique id
    /// (Alibaba ReferenceId), so the new one is created under ``rowToken``.
    public var replaces: String?

    public init(
        item: IngestItem, sourceContext: String, procedure: String? = nil, storageRegion: String? = nil, classID: Int? = nil,
        sessionContext: String? = nil, rowToken: String? = nil, coverURL: String? = nil
    ) {
        self.item = item
        self.sourceContext = sourceContext
        self.rowToken = rowToken ?? RowToken.make(manifest: item.location.manifest, id: item.id)
        self.coverURL = coverURL
        self.sessionContext = sessionContext
        self.procedure = procedure
        self.storageRegion = storageRegion
        self.classID = classID
    }
}

/// What a transfer knows from the journal, and how it reports what the journal must record.
public struct TransferCheckpoint: Sendable {
    /// A multipart upload of this object initiated earlier: continue it. The parts the store lists
    /// (ListParts) and whose size and MD5 match the local bytes are kept; if the store no longer
    /// knows the upload, a new one is initiated.
    public var uploadID: String?
    /// Compute the whole file's MD5 (the manifest claims one, to be checked): a simple upload
    /// hashes it in its one pass, a multipart upload sends its parts in order to hash them in that
    /// pass. Without it a multipart file's integrity is its parts' checks and the object's CRC-64.
    public var wantsMD5: Bool
    /// Called with the id of a new multipart upload before any part is sent; must be durable when it returns.
    public var multipartStarted: @Sendable (String) async throws -> Void
    /// Called when the store confirmed a part (number, ETag, size).
    public var partConfirmed: @Sendable (Int, String, Int64) async throws -> Void
    /// Called with each chunk's byte count as it is sent.
    public var progress: @Sendable (Int64) -> Void
    /// Called each time a storage request (a PUT, a part, initiate, list, complete) failed in a
    /// way worth retrying and is about to be sent again, so the run can count it.
    public var retrying: @Sendable (ProviderError) -> Void
    /// Fresh credentials for the same object, for a platform that refreshes them in place
    /// (Alibaba RefreshUploadVideo); called before a request when the credentials expire within
    /// ``credentialMargin`` seconds, or after the store refused them as expired. Nil: the platform
    /// cannot (Tencent: a new session is applied for instead).
    public var refreshCredentials: (@Sendable () async throws -> TemporaryCredentials)?
    public var credentialMargin: Int64

    public init(
        uploadID: String? = nil, wantsMD5: Bool = false, multipartStarted: @escaping @Sendable (String) async throws -> Void = { _ in },
        partConfirmed: @escaping @Sendable (Int, String, Int64) async throws -> Void = { _, _, _ in },
        progress: @escaping @Sendable (Int64) -> Void = { _ in }, retrying: @escaping @Sendable (ProviderError) -> Void = { _ in },
        refreshCredentials: (@Sendable () async throws -> TemporaryCredentials)? = nil, credentialMargin: Int64 = 120
    ) {
        self.refreshCredentials = refreshCredentials
        self.credentialMargin = credentialMargin
        self.uploadID = uploadID
        self.wantsMD5 = wantsMD5
        self.multipartStarted = multipartStarted
        self.partConfirmed = partConfirmed
        self.progress = progress
        self.retrying = retrying
    }
}

/// What a finished transfer found out.
public struct TransferResult: Sendable, Hashable {
    /// MD5 of the whole file (lower-case hex), as sent: computed in the sending pass, or the store's
    /// ETag of a simple object whose CRC-64 matched. Nil for a multipart object nobody asked it of.
    public var md5: String?
    /// CRC-64/ECMA of the whole file as sent (decimal, as the stores print it); combined from the
    /// parts' for a multipart object.
    public var crc64: UInt64?
    /// Bytes already in storage from an earlier attempt (parts kept on resume).
    public var resumedBytes: Int64

    public init(md5: String?, crc64: UInt64? = nil, resumedBytes: Int64 = 0) {
        self.md5 = md5
        self.crc64 = crc64
        self.resumedBytes = resumedBytes
    }
}

/// A stable token of a row (its manifest and id), usable as an Alibaba ReferenceId
/// (`[A-Za-z0-9_-]`, 6–64 characters): `vi-` and two 64-bit FNV-1a hashes.
public enum RowToken {
    public static func make(manifest: String, id: String) -> String {
        func fnv(_ text: String, seed: UInt64) -> String {
            var hash = seed
            for b in text.utf8 { hash = (hash ^ UInt64(b)) &* 0x100_0000_01b3 }
            let hex = String(hash, radix: 16)
            return String(repeating: "0", count: 16 - hex.count) + hex
        }
        let text = manifest + "\n" + id
        return "vi-" + fnv(text, seed: 0xcbf2_9ce4_8422_2325) + fnv(text, seed: 0x84222325_cbf29ce4)
    }
}

/// Alibaba's ReferenceId rule: 6 to 64 of `A–Z a–z 0–9 - _` (checked by validation, the
/// provider and the emulator alike).
public enum ReferenceID {
    public static func isValid(_ text: String) -> Bool {
        (6...64).contains(text.utf8.count)
            && text.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 45 || $0 == 95 }
    }
}

/// What the engine gives a provider to find a media whose completion answer was lost.
public struct RecoveryContext: Sendable {
    /// The SourceContext the item was applied with.
    public var sourceContext: String
    /// ``UploadRequest/rowToken``.
    public var rowToken: String
    /// The whole file's MD5, when known.
    public var md5: String?
    /// Unix seconds of the prepare call, when known.
    public var appliedAt: Int64?
    /// The journalled session, when there is one (its credentials may be gone).
    public var session: UploadSession?
    /// Looks (searches) before giving up, and the pause between them (search indexes may lag).
    public var searches: Int
    public var pause: Duration
    /// Called before each API request with its action: the run's rate limit and counters.
    public var pace: @Sendable (String) async throws -> Void

    public init(
        sourceContext: String, rowToken: String, md5: String?, appliedAt: Int64?, session: UploadSession?, searches: Int, pause: Duration,
        pace: @escaping @Sendable (String) async throws -> Void
    ) {
        self.sourceContext = sourceContext
        self.rowToken = rowToken
        self.md5 = md5
        self.appliedAt = appliedAt
        self.session = session
        self.searches = searches
        self.pause = pause
        self.pace = pace
    }
}

/// A video platform's server-upload flow, step by step, so the engine can schedule, rate-limit,
/// retry and journal each step. Implementations map every failure to a ``ProviderError``. How a
/// platform differs (covers on their own, credentials refreshed in place, completion without a
/// commit call) is data in ``profile``, never a branch in the engine.
public protocol VODProvider: Sendable {
    /// Shown in output (`tencent`).
    var name: String { get }
    /// Limits, rules and the shape of the flow.
    var profile: ProviderProfile { get }
    /// Asks the platform for an upload session (Tencent ApplyUpload, Alibaba CreateUploadVideo).
    /// One API call (``UploadActions/prepare``).
    func prepare(_ request: UploadRequest) async throws -> UploadSession
    /// Where a cover goes when the platform uploads covers on their own
    /// (``CoverUploadMode/ownUpload``: Alibaba CreateUploadImage). One API call.
    func prepareCover(_ request: UploadRequest) async throws -> CoverUpload
    /// Sends a cover to its own upload's location with its own credentials.
    func transferCover(file: FileReference, upload: CoverUpload, checkpoint: TransferCheckpoint) async throws -> TransferResult
    /// New credentials for the same session and object (``CredentialRenewal/refreshInPlace``:
    /// Alibaba RefreshUploadVideo). One API call.
    func refresh(_ session: UploadSession) async throws -> UploadSession
    /// Finds the media of an item whose completion answer was lost (Tencent: SearchMedia by name,
    /// time and SourceContext; Alibaba: the VideoId or ReferenceId). Nil when it is not there.
    func recoverCommit(_ item: IngestItem, context: RecoveryContext) async throws -> RemoteMedia?
    /// Sends one file's bytes to `location` with the session's credentials (simple or multipart),
    /// continuing the multipart upload of `checkpoint` when there is one.
    func transfer(
        file: FileReference, to location: ObjectLocation, session: UploadSession, checkpoint: TransferCheckpoint
    )
        async throws -> TransferResult
    /// Gives up a multipart upload that will not be finished (best effort: the session's credentials
    /// may have expired).
    func abandon(uploadID: String, at location: ObjectLocation, session: UploadSession) async
    /// Confirms the upload and gets the media's id (Tencent CommitUpload). One API call.
    func commit(_ session: UploadSession) async throws -> RemoteMedia
    /// Sets `update.fields` of `item` on the committed media: what the upload calls could not carry
    /// (Tencent ModifyMediaInfo: Description, tags; ``UploadActions/metadata``), or a new delivery's
    /// changed fields (``UploadActions/update``: ModifyMediaInfo, Alibaba UpdateVideoInfo), removing
    /// `update.removedTags`. Idempotent: a resume may send it again.
    func updateMetadata(_ media: RemoteMedia, item: IngestItem, update: MetadataUpdate) async throws
    /// Deletes a media this run replaced (``UploadActions/delete``, `--delete-replaced`). One API call.
    func deleteMedia(fileID: String) async throws
}

extension VODProvider {
    public func updateMetadata(_ media: RemoteMedia, item: IngestItem, update: MetadataUpdate) async throws {
        throw ProviderError(
            step: "metadata", code: "metadata.unsupported", message: "\(name) has no call that sets metadata after the upload",
            disposition: .failItem)
    }

    public func deleteMedia(fileID: String) async throws {
        throw ProviderError(
            step: "delete", code: "delete.unsupported", message: "\(name) has no call that deletes a media", disposition: .failItem)
    }

    public func prepareCover(_ request: UploadRequest) async throws -> CoverUpload {
        throw ProviderError(
            step: "cover", code: "unsupported", message: "\(name) uploads covers with the media's session", disposition: .failItem)
    }

    public func transferCover(file: FileReference, upload: CoverUpload, checkpoint: TransferCheckpoint) async throws -> TransferResult {
        throw ProviderError(
            step: "cover", code: "unsupported", message: "\(name) uploads covers with the media's session", disposition: .failItem)
    }

    public func refresh(_ session: UploadSession) async throws -> UploadSession {
        throw ProviderError(
            step: "refresh", code: "unsupported", message: "\(name) cannot refresh credentials in place", disposition: .renewSession)
    }

    /// A transfer without a journal: `progress` gets each chunk's byte count.
    public func transfer(
        file: FileReference, to location: ObjectLocation, session: UploadSession, progress: @escaping @Sendable (Int64) -> Void
    ) async throws -> TransferResult {
        try await transfer(file: file, to: location, session: session, checkpoint: TransferCheckpoint(progress: progress))
    }
}

/// What the platform knows of one committed media: for audits (`--verify-remote`) and to find an
/// upload again when the answer to its commit was lost.
public struct RemoteMediaInfo: Sendable, Hashable, Codable {
    public var fileID: String
    public var name: String
    public var size: Int64?
    public var md5: String?
    public var sourceContext: String?
    public var mediaURL: String?
    public var coverURL: String?
    /// Seconds since 1970, UTC.
    public var createdAt: Int64?
    public var classID: Int?
    /// The platform's processing status, where it tells one (Alibaba `UploadSucc`, `Normal`, ...).
    public var status: String?
    /// Alibaba ReferenceId.
    public var referenceID: String?
    /// Description and tags as the platform holds them (nil: it did not say).
    public var description: String?
    public var tags: [String]?

    public init(
        fileID: String, name: String, size: Int64? = nil, md5: String? = nil, sourceContext: String? = nil, mediaURL: String? = nil,
        coverURL: String? = nil, createdAt: Int64? = nil, classID: Int? = nil, status: String? = nil, referenceID: String? = nil,
        description: String? = nil, tags: [String]? = nil
    ) {
        self.description = description
        self.tags = tags
        self.status = status
        self.referenceID = referenceID
        self.fileID = fileID
        self.name = name
        self.size = size
        self.md5 = md5
        self.sourceContext = sourceContext
        self.mediaURL = mediaURL
        self.coverURL = coverURL
        self.createdAt = createdAt
        self.classID = classID
    }
}

/// A search of the platform's media (Tencent SearchMedia): values of one field are ORed, fields ANDed.
public struct MediaQuery: Sendable, Hashable {
    public var fileIDs: [String]
    /// Fuzzy match on the name.
    public var names: [String]
    public var namePrefixes: [String]
    /// Created at or after, seconds since 1970.
    public var createdAfter: Int64?
    /// Created before, seconds since 1970.
    public var createdBefore: Int64?
    /// Oldest first when true.
    public var ascending: Bool
    public var offset: Int
    public var limit: Int

    public init(
        fileIDs: [String] = [], names: [String] = [], namePrefixes: [String] = [], createdAfter: Int64? = nil,
        createdBefore: Int64? = nil, ascending: Bool = true, offset: Int = 0, limit: Int = 10
    ) {
        self.fileIDs = fileIDs
        self.names = names
        self.namePrefixes = namePrefixes
        self.createdAfter = createdAfter
        self.createdBefore = createdBefore
        self.ascending = ascending
        self.offset = offset
        self.limit = limit
    }
}

/// Reading and deleting what is on the platform. Failures are ``ProviderError``s.
public protocol MediaCatalog: Sendable {
    /// Most ids one ``describe(fileIDs:)`` call takes (Tencent: 20).
    var describeBatchLimit: Int { get }
    /// The media of these ids that exist, and the ids that do not. At most ``describeBatchLimit`` ids.
    func describe(fileIDs: [String]) async throws -> (found: [RemoteMediaInfo], missing: [String])
    /// Deletes the media with its files and cover.
    func delete(fileID: String) async throws
}
