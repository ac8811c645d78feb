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

    public init(bucket: String, region: String, key: String) {
        self.bucket = bucket
        self.region = region
        self.key = key
    }
}

/// What the platform answered to "I want to upload this item" (Tencent ApplyUpload).
public struct UploadSession: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Opaque key to commit with (Tencent `VodSessionKey`).
    public var sessionKey: String
    public var media: ObjectLocation
    public var cover: ObjectLocation?
    public var credentials: TemporaryCredentials
    public var requestID: String

    public init(sessionKey: String, media: ObjectLocation, cover: ObjectLocation?, credentials: TemporaryCredentials, requestID: String) {
        self.sessionKey = sessionKey
        self.media = media
        self.cover = cover
        self.credentials = credentials
        self.requestID = requestID
    }

    public var description: String { "UploadSession(media: \(media.bucket)/\(media.key), request: \(requestID))" }
}

/// A committed media on the platform.
public struct RemoteMedia: Sendable, Hashable, Codable {
    public var fileID: String
    public var mediaURL: String?
    public var coverURL: String?
    public var requestID: String

    public init(fileID: String, mediaURL: String?, coverURL: String?, requestID: String) {
        self.fileID = fileID
        self.mediaURL = mediaURL
        self.coverURL = coverURL
        self.requestID = requestID
    }
}

/// What to do about a failed step: decided by the provider from the platform's answer, acted on
/// by the engine.
public enum Disposition: String, Sendable, Hashable, Codable {
    /// Transient (server error, connection reset, timeout): try the step again after a backoff.
    case retry
    /// The platform says "too many requests": slow the shared API rate down, then retry.
    case throttled
    /// The session or its temporary credentials expired: start the item again from prepare.
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

    public init(
        item: IngestItem, sourceContext: String, procedure: String? = nil, storageRegion: String? = nil, classID: Int? = nil,
        sessionContext: String? = nil
    ) {
        self.item = item
        self.sourceContext = sourceContext
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
    /// The whole file's MD5 when the caller has computed it already (it is not read again for it).
    public var md5: String?
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
        uploadID: String? = nil, md5: String? = nil, multipartStarted: @escaping @Sendable (String) async throws -> Void = { _ in },
        partConfirmed: @escaping @Sendable (Int, String, Int64) async throws -> Void = { _, _, _ in },
        progress: @escaping @Sendable (Int64) -> Void = { _ in }, retrying: @escaping @Sendable (ProviderError) -> Void = { _ in },
        refreshCredentials: (@Sendable () async throws -> TemporaryCredentials)? = nil, credentialMargin: Int64 = 120
    ) {
        self.refreshCredentials = refreshCredentials
        self.credentialMargin = credentialMargin
        self.uploadID = uploadID
        self.md5 = md5
        self.multipartStarted = multipartStarted
        self.partConfirmed = partConfirmed
        self.progress = progress
        self.retrying = retrying
    }
}

/// What a finished transfer found out.
public struct TransferResult: Sendable, Hashable {
    /// MD5 of the whole file (lower-case hex), as sent.
    public var md5: String?
    /// Bytes already in storage from an earlier attempt (parts kept on resume).
    public var resumedBytes: Int64

    public init(md5: String?, resumedBytes: Int64 = 0) {
        self.md5 = md5
        self.resumedBytes = resumedBytes
    }
}

/// A video platform's server-upload flow, step by step, so the engine can schedule, rate-limit,
/// retry and journal each step. Implementations map every failure to a ``ProviderError``.
public protocol VODProvider: Sendable {
    /// Shown in output (`tencent`).
    var name: String { get }
    /// Asks the platform for an upload session (Tencent ApplyUpload). One API call.
    func prepare(_ request: UploadRequest) async throws -> UploadSession
    /// Sends one file's bytes to `location` with the session's credentials (simple or multipart),
    /// continuing the multipart upload of `checkpoint` when there is one.
    func transfer(file: FileReference, to location: ObjectLocation, session: UploadSession, checkpoint: TransferCheckpoint)
        async throws -> TransferResult
    /// Gives up a multipart upload that will not be finished (best effort: the session's credentials
    /// may have expired).
    func abandon(uploadID: String, at location: ObjectLocation, session: UploadSession) async
    /// Confirms the upload and gets the media's id (Tencent CommitUpload). One API call.
    func commit(_ session: UploadSession) async throws -> RemoteMedia
}

extension VODProvider {
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

    public init(
        fileID: String, name: String, size: Int64? = nil, md5: String? = nil, sourceContext: String? = nil, mediaURL: String? = nil,
        coverURL: String? = nil, createdAt: Int64? = nil, classID: Int? = nil
    ) {
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
    /// One page of matches, and how many match in all (the platform may cap it; Tencent at 5000).
    func search(_ query: MediaQuery) async throws -> (total: Int, media: [RemoteMediaInfo])
    /// Deletes the media with its files and cover.
    func delete(fileID: String) async throws
}
