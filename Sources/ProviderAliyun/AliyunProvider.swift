import Foundation
import IngestCore
import VODHTTP

/// Alibaba Cloud ApsaraVideo VOD server upload (protocol notes §1): a cover first
/// (CreateUploadImage, then its bytes to OSS), CreateUploadVideo with the cover's ImageURL and a
/// ReferenceId of the row, the media's bytes to OSS with the STS credentials it returned
/// (RefreshUploadVideo when they near expiry, the multipart upload going on), and no commit call:
/// the OSS write completes it, GetMezzanineInfo confirms it. The same code runs against the cloud
/// and the emulator.
public struct AliyunProvider: VODProvider {
    public let name = "aliyun"
    public var profile: ProviderProfile { .aliyun }
    public let configuration: AliyunConfiguration
    let api: AliyunRPCClient
    let oss: ObjectUploader

    public init(configuration: AliyunConfiguration, transport: any HTTPTransport, now: @escaping @Sendable () -> Date = { Date() }) {
        self.configuration = configuration
        self.api = AliyunRPCClient(configuration: configuration, transport: transport, now: now)
        self.oss = ObjectUploader(
            dialect: OSSDialect(configuration: configuration, now: now), transport: transport, partSize: configuration.partSize,
            partConcurrency: configuration.partConcurrency, requestTimeout: configuration.apiTimeout,
            transferTimeout: configuration.transferTimeout, partAttempts: configuration.partAttempts)
    }

    /// A ReferenceId from the row's `source_context` when it is one (`[A-Za-z0-9_-]`, 6–64), else the
    /// row token; always the row token for a replacement (the video it replaces keeps the row's).
    static func referenceID(_ request: UploadRequest) -> String {
        if request.replaces == nil, let given = request.item.sourceContext, ReferenceID.isValid(given) { return given }
        return request.rowToken
    }

    /// `UserData` with the row's `meta.*` as `Extend` (a JSON object, ≤ 512 bytes: validation checks it).
    static func userData(_ item: IngestItem) -> String? {
        CustomData.json(item.meta).map { #"{"Extend":"# + $0 + "}" }
    }

    /// The FileName CreateUploadVideo gets: the file's name, with the sniffed extension when it has none.
    static func fileName(_ item: IngestItem) -> String {
        let name = (item.media.given as NSString).lastPathComponent
        if (name as NSString).pathExtension.isEmpty, let ext = item.mediaType ?? item.media.fileExtension { return name + "." + ext }
        return name
    }

    public func prepare(_ request: UploadRequest) async throws -> UploadSession {
        let item = request.item
        let reference = Self.referenceID(request)
        let parameters: [String: String?] = [
            "Title": item.title, "FileName": Self.fileName(item), "FileSize": item.media.size.map(String.init),
            "Description": item.description, "CoverURL": request.coverURL, "CateId": (item.category ?? request.classID).map(String.init),
            "Tags": item.tags.isEmpty ? nil : item.tags.joined(separator: ","), "TemplateGroupId": item.procedure ?? request.procedure,
            "WorkflowId": configuration.workflowID, "StorageLocation": item.storageRegion ?? request.storageRegion,
            "AppId": configuration.appID, "UserData": Self.userData(item), "ReferenceId": reference,
        ]
        do {
            let answer = try await api.call("CreateUploadVideo", parameters, step: "apply")
            return try session(answer, coverURL: request.coverURL, reference: reference, step: "apply")
        } catch let error as ProviderError where error.disposition == .failItem {
            // The ReferenceId is the row's: a create whose answer was lost (a crash, a timeout) left
            // a video with it. Take that video over with fresh credentials instead of making a
            // second, but only when it is this row's (same title and size): a ReferenceId another
            // row or tool gave is never overwritten.
            guard let found = try await video(reference: reference) else { throw error }
            let sameSize = found.size == nil || item.media.size == nil || found.size == item.media.size
            guard found.name == item.title, sameSize else {
                throw ProviderError(
                    step: "apply", code: "reference.taken",
                    message: "ReferenceId \(reference) belongs to video \(found.fileID) ('\(found.name)'), not to this row; "
                        + "give the row another source_context",
                    requestID: error.requestID, disposition: .failItem)
            }
            let answer = try await api.call("RefreshUploadVideo", ["VideoId": found.fileID], step: "apply")
            return try session(answer, coverURL: request.coverURL ?? found.coverURL, reference: reference, step: "apply")
        }
    }

    /// An UploadSession from a CreateUploadVideo or RefreshUploadVideo answer.
    func session(_ answer: APIAnswer, coverURL: String?, reference: String?, step: String) throws -> UploadSession {
        guard let videoID = answer.string("VideoId"), let address = UploadAddress(answer.string("UploadAddress")),
            let auth = UploadAuth(answer.string("UploadAuth"), now: Date())
        else {
            throw ProviderError(
                step: step, code: "response.malformed",
                message: "the answer has no VideoId, or an UploadAddress or UploadAuth that does not decode",
                requestID: answer.requestID, disposition: .retry)
        }
        return UploadSession(
            sessionKey: videoID, media: address.location(region: auth.region ?? configuration.region), cover: nil,
            credentials: auth.credentials, requestID: answer.requestID, coverURL: coverURL, sourceContext: reference,
            segmentPrefix: address.objectPrefix)
    }

    public func prepareCover(_ request: UploadRequest) async throws -> CoverUpload {
        guard let cover = request.item.cover else {
            throw ProviderError(step: "cover", code: "cover.none", message: "the item has no cover", disposition: .failItem)
        }
        let ext = (cover.fileExtension ?? "png").lowercased()
        let answer = try await api.call(
            "CreateUploadImage",
            [
                "ImageType": "cover", "ImageExt": ext, "Title": request.item.title, "AppId": configuration.appID,
                "StorageLocation": request.item.storageRegion ?? request.storageRegion,
            ], step: "cover")
        guard let imageID = answer.string("ImageId"), let url = answer.string("ImageURL"),
            let address = UploadAddress(answer.string("UploadAddress")),
            let auth = UploadAuth(answer.string("UploadAuth"), now: Date())
        else {
            throw ProviderError(
                step: "cover", code: "response.malformed",
                message: "CreateUploadImage answered without ImageId, ImageURL, UploadAddress or UploadAuth",
                requestID: answer.requestID, disposition: .retry)
        }
        return CoverUpload(
            location: address.location(region: auth.region ?? configuration.region), credentials: auth.credentials, url: url,
            imageID: imageID,
            requestID: answer.requestID)
    }

    public func transferCover(file: FileReference, upload: CoverUpload, checkpoint: TransferCheckpoint) async throws -> TransferResult {
        try await oss.upload(
            file: file.resolved, size: try file.byteCount(step: "cover"), to: upload.location, credentials: upload.credentials,
            step: "cover",
            checkpoint: checkpoint)
    }

    public func transfer(
        file: FileReference, to location: ObjectLocation, session: UploadSession, checkpoint: TransferCheckpoint
    ) async throws -> TransferResult {
        try await oss.upload(
            file: file.resolved, size: try file.byteCount(step: "upload"), to: location, credentials: session.credentials, step: "upload",
            checkpoint: checkpoint)
    }

    public func abandon(uploadID: String, at location: ObjectLocation, session: UploadSession) async {
        await oss.abort(uploadID: uploadID, location: location, credentials: session.credentials, step: "upload")
    }

    /// RefreshUploadVideo: the same VideoId and object, new STS credentials.
    public func refresh(_ session: UploadSession) async throws -> UploadSession {
        let answer = try await api.call("RefreshUploadVideo", ["VideoId": session.sessionKey], step: "refresh")
        var fresh = try self.session(answer, coverURL: session.coverURL, reference: session.sourceContext, step: "refresh")
        guard fresh.media.key == session.media.key, fresh.media.bucket == session.media.bucket else {
            throw ProviderError(
                step: "refresh", code: "refresh.moved",
                message:
                    "RefreshUploadVideo gave another object (\(fresh.media.bucket)/\(fresh.media.key)) for video \(session.sessionKey)",
                requestID: answer.requestID, disposition: .failItem)
        }
        fresh.media.endpoint = fresh.media.endpoint ?? session.media.endpoint
        return fresh
    }

    /// No commit call: GetMezzanineInfo confirms the OSS write reached the video (status `Normal`).
    public func commit(_ session: UploadSession) async throws -> RemoteMedia {
        let answer = try await api.call("GetMezzanineInfo", ["VideoId": session.sessionKey], step: "commit")
        let mezzanine = answer.response["Mezzanine"] as? [String: Any] ?? [:]
        guard let status = mezzanine["Status"] as? String, status == "Normal" else {
            throw ProviderError(
                step: "commit", code: "upload.not-complete",
                message:
                    "video \(session.sessionKey): the source file's status is \(mezzanine["Status"] as? String ?? "unknown"), not Normal, after the OSS write",
                requestID: answer.requestID, disposition: .retry)
        }
        return RemoteMedia(
            fileID: session.sessionKey, mediaURL: mezzanine["FileURL"] as? String, coverURL: session.coverURL, requestID: answer.requestID,
            status: status)
    }

    /// Finds the video of an item whose create or confirmation answer was lost: by the journalled
    /// VideoId, else by the row's ReferenceId; it counts only once its source file is in storage.
    public func recoverCommit(_ item: IngestItem, context: RecoveryContext) async throws -> RemoteMedia? {
        var id = context.session?.sessionKey
        if id == nil {
            try await context.pace("GetVideoInfo")
            let reference =
                item.sourceContext.map { given in
                    Self.referenceID(UploadRequest(item: item, sourceContext: given, rowToken: context.rowToken))
                } ?? context.rowToken
            id = try await video(reference: reference)?.fileID
        }
        guard let id else { return nil }
        try await context.pace("GetMezzanineInfo")
        let session = UploadSession(
            sessionKey: id, media: context.session?.media ?? ObjectLocation(bucket: "", region: "", key: ""), cover: nil,
            credentials: TemporaryCredentials(secretID: "", secretKey: "", token: "", expiresAt: 0), requestID: "",
            coverURL: context.session?.coverURL)
        do {
            return try await commit(session)
        } catch let error as ProviderError where error.code == "upload.not-complete" || error.code == "InvalidVideo.NotFound" {
            return nil
        }
    }

    /// GetVideoInfo by ReferenceId; nil when no video has it.
    func video(reference: String) async throws -> RemoteMediaInfo? {
        do {
            let answer = try await api.call("GetVideoInfo", ["ReferenceId": reference], step: "lookup")
            return (answer.response["Video"] as? [String: Any]).flatMap(Self.info)
        } catch let error as ProviderError where error.code == "InvalidVideo.NotFound" {
            return nil
        }
    }

    /// A `Video` object of GetVideoInfo(s).
    static func info(_ object: [String: Any]) -> RemoteMediaInfo? {
        guard let id = object["VideoId"] as? String else { return nil }
        func text(_ key: String) -> String? { (object[key] as? String).flatMap { $0.isEmpty ? nil : $0 } }
        return RemoteMediaInfo(
            fileID: id, name: text("Title") ?? "", size: (object["Size"] as? NSNumber)?.int64Value, md5: nil,
            sourceContext: text("ReferenceId"),
            coverURL: text("CoverURL"),
            createdAt: text("CreationTime").flatMap(ISO8601Timestamp.parse).map { Int64($0.timeIntervalSince1970) },
            classID: (object["CateId"] as? NSNumber)?.intValue, status: text("Status"), referenceID: text("ReferenceId"),
            description: object["Description"] as? String ?? "",
            tags: (object["Tags"] as? String).map { $0.split(separator: ",").map(String.init) } ?? [])
    }
}

extension AliyunProvider: MediaCatalog {
    public var describeBatchLimit: Int { 20 }

    /// GetVideoInfos (≤ 20 ids).
    public func describe(fileIDs: [String]) async throws -> (found: [RemoteMediaInfo], missing: [String]) {
        precondition(fileIDs.count <= describeBatchLimit, "GetVideoInfos takes at most 20 VideoIds")
        guard !fileIDs.isEmpty else { return ([], []) }
        let answer = try await api.call("GetVideoInfos", ["VideoIds": fileIDs.joined(separator: ",")], step: "describe")
        let list = answer.response["VideoList"] as? [[String: Any]] ?? []
        return (list.compactMap(Self.info), answer.response["NonExistVideoIds"] as? [String] ?? [])
    }

    /// UpdateVideoInfo with the fields of `update` (a revision: the upload calls carry every field
    /// of a new row): Title, Description (empty to clear it), Tags (comma-separated, the row's whole
    /// set), CateId, and UserData with `meta.*` as Extend (`{}` when the row has none). A category
    /// cannot be cleared: the media keeps its old one and the call fails with a message.
    public func updateMetadata(_ media: RemoteMedia, item: IngestItem, update: MetadataUpdate) async throws {
        let fields = Set(update.fields)
        var parameters: [String: String?] = ["VideoId": media.fileID]
        if fields.contains("title") { parameters["Title"] = item.title }
        if fields.contains("description") { parameters["Description"] = item.description ?? "" }
        if fields.contains("tags") { parameters["Tags"] = item.tags.joined(separator: ",") }
        if fields.contains("meta") { parameters["UserData"] = Self.userData(item) ?? "{}" }
        if fields.contains("category") {
            guard let category = item.category else {
                throw ProviderError(
                    step: "metadata", code: "metadata.cannot-clear",
                    message: "UpdateVideoInfo cannot take a video's category away; give the row a category (CateId) or keep the old one",
                    disposition: .failItem)
            }
            parameters["CateId"] = String(category)
        }
        _ = try await api.call("UpdateVideoInfo", parameters, step: "metadata")
    }

    /// DeleteVideo of a replaced media; one the platform no longer has counts as deleted.
    public func deleteMedia(fileID: String) async throws {
        do {
            try await delete(fileID: fileID)
        } catch let error as ProviderError where error.code == "InvalidVideo.NotFound" {
            return
        }
    }

    /// DeleteVideo of one id.
    public func delete(fileID: String) async throws {
        let answer = try await api.call("DeleteVideo", ["VideoIds": fileID], step: "delete")
        if let missing = answer.response["NonExistVideoIds"] as? [String], missing.contains(fileID) {
            throw ProviderError(
                step: "delete", code: "InvalidVideo.NotFound", message: "video \(fileID) does not exist", requestID: answer.requestID,
                disposition: .failItem)
        }
    }
}

extension AliyunProvider: ProcessingEvents {
    /// GetVideoInfos of these videos (at most 20): each one's Status (`UploadSucc`, `Transcoding`,
    /// `Normal`, `TranscodeFail`, ...), at the time it was seen (the video's ModificationTime is its
    /// metadata's, not its status's); a video the platform no longer has is a failure (`NotFound`).
    /// One API call.
    public func nextEvents(fileIDs: [String]) async throws -> [ProcessingEvent] {
        guard !fileIDs.isEmpty else { return [] }
        precondition(fileIDs.count <= 20, "GetVideoInfos takes at most 20 VideoIds")
        let answer = try await api.call("GetVideoInfos", ["VideoIds": fileIDs.joined(separator: ",")], step: "events")
        let now = Int64(Date().timeIntervalSince1970)
        var events: [ProcessingEvent] = []
        for video in answer.response["VideoList"] as? [[String: Any]] ?? [] {
            guard let id = video["VideoId"] as? String, let status = video["Status"] as? String else { continue }
            events.append(ProcessingEvent(kind: .status, type: "status", fileID: id, at: now, status: status))
        }
        for id in answer.response["NonExistVideoIds"] as? [String] ?? [] {
            events.append(
                ProcessingEvent(
                    kind: .status, type: "status", fileID: id, at: now, status: "NotFound",
                    failure: "GetVideoInfos: the platform has no video \(id) (deleted?)"))
        }
        return events
    }

    /// Nothing to confirm: statuses are polled.
    public func confirmEvents(_ handles: [String]) async throws {}
}

/// UploadAddress, base64 JSON (protocol notes §2.3).
struct UploadAddress {
    var endpoint: String
    var bucket: String
    var fileName: String
    /// Where an m3u8 upload's segments go (`sv/<id>/`); nil for other files.
    var objectPrefix: String?

    init?(_ base64: String?) {
        guard let base64, let data = Data(base64Encoded: base64),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let endpoint = object["Endpoint"] as? String, let bucket = object["Bucket"] as? String,
            let fileName = object["FileName"] as? String
        else { return nil }
        self.endpoint = endpoint
        self.bucket = bucket
        self.fileName = fileName
        self.objectPrefix = (object["ObjectPrefix"] as? String).flatMap { $0.isEmpty ? nil : $0 }
    }

    func location(region: String) -> ObjectLocation {
        ObjectLocation(bucket: bucket, region: region, key: fileName, endpoint: endpoint)
    }
}

/// UploadAuth, base64 JSON: the STS triple, its expiry from `ExpireUTCTime`, else `Expiration` seconds from now.
struct UploadAuth {
    var credentials: TemporaryCredentials
    var region: String?

    init?(_ base64: String?, now: Date) {
        guard let base64, let data = Data(base64Encoded: base64),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let id = object["AccessKeyId"] as? String, let secret = object["AccessKeySecret"] as? String,
            let token = object["SecurityToken"] as? String
        else { return nil }
        var expires = Int64(now.timeIntervalSince1970) + 3000
        if let utc = (object["ExpireUTCTime"] as? String).flatMap(ISO8601Timestamp.parse) {
            expires = Int64(utc.timeIntervalSince1970)
        } else if let seconds = (object["Expiration"] as? String).flatMap(Int64.init) ?? (object["Expiration"] as? NSNumber)?.int64Value {
            expires = Int64(now.timeIntervalSince1970) + seconds
        }
        credentials = TemporaryCredentials(secretID: id, secretKey: secret, token: token, expiresAt: expires)
        region = object["Region"] as? String
    }
}
