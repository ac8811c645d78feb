import Foundation
import IngestCore
import VODHTTP

/// Tencent Cloud VOD server upload (protocol notes §1): ApplyUpload, the bytes to COS with the
/// temporary credentials, CommitUpload. The same code runs against the cloud and the emulator.
public struct TencentProvider: VODProvider {
    public let name = "tencent"
    public var profile: ProviderProfile { .tencent }
    public let configuration: TencentConfiguration
    let api: VODAPIClient
    let cos: ObjectUploader

    public init(configuration: TencentConfiguration, transport: any HTTPTransport, now: @escaping @Sendable () -> Date = { Date() }) {
        self.configuration = configuration
        self.api = VODAPIClient(configuration: configuration, transport: transport, now: now)
        self.cos = ObjectUploader(
            dialect: COSDialect(configuration: configuration, now: now), transport: transport, partSize: configuration.partSize,
            partConcurrency: configuration.partConcurrency, requestTimeout: configuration.apiTimeout,
            transferTimeout: configuration.transferTimeout, partAttempts: configuration.partAttempts)
    }

    public func prepare(_ request: UploadRequest) async throws -> UploadSession {
        let item = request.item
        var parameters: [String: Any?] = [
            "MediaType": item.mediaType ?? item.media.fileExtension,
            "MediaName": item.title,
            "CoverType": item.cover?.fileExtension,
            "Procedure": item.procedure ?? request.procedure,
            "StorageRegion": item.storageRegion ?? request.storageRegion,
            "ClassId": item.category ?? request.classID,
            "SourceContext": request.sourceContext,
            // The row's meta.* columns, as JSON (validation checked its length).
            "SessionContext": request.sessionContext ?? CustomData.json(item.meta),
            "SubAppId": configuration.subAppID,
        ]
        if let expire = item.expireTime {
            parameters["ExpireTime"] = ISO8601Timestamp.format(expire)
        }
        let answer = try await api.call("ApplyUpload", parameters, step: "apply")
        guard let bucket = answer.string("StorageBucket"), let region = answer.string("StorageRegion"),
            let sessionKey = answer.string("VodSessionKey"), let mediaPath = answer.string("MediaStoragePath"),
            let certificate = answer.response["TempCertificate"] as? [String: Any],
            let secretID = certificate["SecretId"] as? String, let secretKey = certificate["SecretKey"] as? String,
            let token = certificate["Token"] as? String
        else {
            throw ProviderError(
                step: "apply", code: "response.malformed",
                message: "ApplyUpload answered without StorageBucket, StorageRegion, VodSessionKey, MediaStoragePath or TempCertificate",
                requestID: answer.requestID, disposition: .retry)
        }
        let expires = (certificate["ExpiredTime"] as? NSNumber)?.int64Value ?? Int64(Date().timeIntervalSince1970 + 1800)
        let cover = answer.string("CoverStoragePath").flatMap {
            $0.isEmpty ? nil : ObjectLocation(bucket: bucket, region: region, key: Self.key($0))
        }
        if item.cover != nil, cover == nil {
            throw ProviderError(
                step: "apply", code: "response.malformed", message: "ApplyUpload gave no CoverStoragePath for a CoverType",
                requestID: answer.requestID, disposition: .failItem)
        }
        // An HLS package's files go under the media's storage folder (protocol notes §3.9), which
        // the temporary credentials cover.
        let mediaKey = Self.key(mediaPath)
        let folder = mediaKey.lastIndex(of: "/").map { String(mediaKey[...$0]) } ?? ""
        return UploadSession(
            sessionKey: sessionKey, media: ObjectLocation(bucket: bucket, region: region, key: mediaKey),
            cover: cover, credentials: TemporaryCredentials(secretID: secretID, secretKey: secretKey, token: token, expiresAt: expires),
            requestID: answer.requestID, segmentPrefix: folder)
    }

    /// A storage path without its leading `/` is the COS key.
    static func key(_ path: String) -> String { path.hasPrefix("/") ? String(path.dropFirst()) : path }

    public func transfer(
        file: FileReference, to location: ObjectLocation, session: UploadSession, checkpoint: TransferCheckpoint
    ) async throws -> TransferResult {
        let step = location == session.cover ? "cover" : "upload"
        return try await cos.upload(
            file: file.resolved, size: try file.byteCount(step: step), to: location, credentials: session.credentials, step: step,
            checkpoint: checkpoint)
    }

    /// ModifyMediaInfo (protocol notes §3.8) with the fields of `update`: Name, Description (empty to
    /// clear it), ClassId (0 when the row has none), ExpireTime (`9999-12-31T23:59:59Z` when the row
    /// has none), AddTags for the row's tags and DeleteTags for `update.removedTags` (never sharing a
    /// value). Idempotent: the same values again, tags the media has already.
    public func updateMetadata(_ media: RemoteMedia, item: IngestItem, update: MetadataUpdate) async throws {
        var parameters: [String: Any?] = ["FileId": media.fileID, "SubAppId": configuration.subAppID]
        let fields = Set(update.fields)
        if fields.contains("title") { parameters["Name"] = item.title }
        if fields.contains("description") { parameters["Description"] = item.description ?? "" }
        if fields.contains("category") { parameters["ClassId"] = item.category ?? 0 }
        if fields.contains("expire_time") {
            parameters["ExpireTime"] =
                item.expireTime.map { ISO8601Timestamp.format(Int64($0.timeIntervalSince1970)) } ?? "9999-12-31T23:59:59Z"
        }
        if fields.contains("tags") {
            if !item.tags.isEmpty { parameters["AddTags"] = item.tags }
            let removed = update.removedTags.filter { !item.tags.contains($0) }
            if !removed.isEmpty { parameters["DeleteTags"] = removed }
        }
        _ = try await api.call("ModifyMediaInfo", parameters, step: "metadata")
    }

    /// DeleteMedia of a replaced media (``delete(fileID:)``); one the platform no longer has counts as deleted.
    public func deleteMedia(fileID: String) async throws {
        do {
            try await delete(fileID: fileID)
        } catch let error as ProviderError
            where error.code == "ResourceNotFound.FileNotExist" || error.code == "InvalidParameterValue.FileId"
        {
            return
        }
    }

    public func abandon(uploadID: String, at location: ObjectLocation, session: UploadSession) async {
        await cos.abort(uploadID: uploadID, location: location, credentials: session.credentials, step: "upload")
    }

    public func commit(_ session: UploadSession) async throws -> RemoteMedia {
        let answer = try await api.call(
            "CommitUpload", ["VodSessionKey": session.sessionKey, "SubAppId": configuration.subAppID], step: "commit")
        guard let fileID = answer.string("FileId"), !fileID.isEmpty else {
            throw ProviderError(
                step: "commit", code: "response.malformed", message: "CommitUpload answered without a FileId",
                requestID: answer.requestID, disposition: .retry)
        }
        return RemoteMedia(
            fileID: fileID, mediaURL: answer.string("MediaUrl"), coverURL: answer.string("CoverUrl"), requestID: answer.requestID)
    }
}

extension TencentProvider {
    /// Finds the media a lost CommitUpload answer was about: SearchMedia by name prefix and creation
    /// time around the ApplyUpload, then the SourceContext token, size and MD5 of each match
    /// (SearchMedia pages up to 5000 results, and its index may lag behind CommitUpload: searched
    /// `context.searches` times). Nil when it is not there.
    public func recoverCommit(_ item: IngestItem, context: RecoveryContext) async throws -> RemoteMedia? {
        let now = Int64(Date().timeIntervalSince1970)
        let after = (context.appliedAt ?? now - 86_400) - 300
        // A SourceContext the tool made names this item only; one from the manifest needs the MD5 too.
        let tokenIsUnique = item.sourceContext == nil
        for search in 1...max(1, context.searches) {
            var offset = 0
            while true {
                let query = MediaQuery(
                    namePrefixes: [item.title], createdAfter: after, createdBefore: now + 300, offset: offset, limit: 100)
                try await context.pace("SearchMedia")
                let page = try await self.search(query)
                for media in page.media where media.sourceContext == context.sourceContext {
                    if let size = item.media.size, let found = media.size, size != found { continue }
                    if let md5 = context.md5, let found = media.md5, md5 != found { continue }
                    if !tokenIsUnique, context.md5 == nil || media.md5 == nil { continue }
                    return RemoteMedia(fileID: media.fileID, mediaURL: media.mediaURL, coverURL: media.coverURL, requestID: "")
                }
                offset += page.media.count
                if page.media.isEmpty || offset >= min(page.total, Self.searchLimit) { break }
            }
            if search < context.searches { try await Task.sleep(for: context.pause) }
        }
        return nil
    }

    /// The most results SearchMedia pages through (protocol notes §3.5).
    static let searchLimit = 5000
}

extension TencentProvider: MediaCatalog {
    public var describeBatchLimit: Int { 20 }

    /// DescribeMediaInfos with the `basicInfo` and `metaData` filters (protocol notes §3.4).
    public func describe(fileIDs: [String]) async throws -> (found: [RemoteMediaInfo], missing: [String]) {
        precondition(fileIDs.count <= describeBatchLimit, "DescribeMediaInfos takes at most 20 FileIds")
        guard !fileIDs.isEmpty else { return ([], []) }
        let answer = try await api.call(
            "DescribeMediaInfos", ["FileIds": fileIDs, "Filters": ["basicInfo", "metaData"], "SubAppId": configuration.subAppID],
            step: "describe")
        let set = answer.response["MediaInfoSet"] as? [[String: Any]] ?? []
        return (set.compactMap(Self.info), answer.response["NotExistFileIdSet"] as? [String] ?? [])
    }

    /// SearchMedia (§3.5) on FileIds, Names, NamePrefixes and CreateTime, sorted by CreateTime: one
    /// page of matches, and how many match in all (at most 5000).
    public func search(_ query: MediaQuery) async throws -> (total: Int, media: [RemoteMediaInfo]) {
        var parameters: [String: Any?] = [
            "Sort": ["Field": "CreateTime", "Order": query.ascending ? "Asc" : "Desc"],
            "Offset": query.offset, "Limit": query.limit, "Filters": ["basicInfo", "metaData"], "SubAppId": configuration.subAppID,
        ]
        if !query.fileIDs.isEmpty { parameters["FileIds"] = query.fileIDs }
        if !query.names.isEmpty { parameters["Names"] = query.names }
        if !query.namePrefixes.isEmpty { parameters["NamePrefixes"] = query.namePrefixes }
        if query.createdAfter != nil || query.createdBefore != nil {
            var range: [String: String] = [:]
            if let after = query.createdAfter { range["After"] = ISO8601Timestamp.format(after) }
            if let before = query.createdBefore { range["Before"] = ISO8601Timestamp.format(before) }
            parameters["CreateTime"] = range
        }
        let answer = try await api.call("SearchMedia", parameters, step: "search")
        let set = answer.response["MediaInfoSet"] as? [[String: Any]] ?? []
        return ((answer.response["TotalCount"] as? NSNumber)?.intValue ?? set.count, set.compactMap(Self.info))
    }

    /// DeleteMedia (§3.6): everything, the cover with the original.
    public func delete(fileID: String) async throws {
        _ = try await api.call("DeleteMedia", ["FileId": fileID, "SubAppId": configuration.subAppID], step: "delete")
    }

    /// A `MediaInfo` object; nil without a FileId.
    static func info(_ object: [String: Any]) -> RemoteMediaInfo? {
        guard let fileID = object["FileId"] as? String else { return nil }
        let basic = object["BasicInfo"] as? [String: Any] ?? [:]
        let meta = object["MetaData"] as? [String: Any] ?? [:]
        let source = basic["SourceInfo"] as? [String: Any] ?? [:]
        func text(_ value: Any?) -> String? { (value as? String).flatMap { $0.isEmpty ? nil : $0 } }
        return RemoteMediaInfo(
            fileID: fileID, name: basic["Name"] as? String ?? "", size: (meta["Size"] as? NSNumber)?.int64Value,
            md5: text(meta["Md5"]), sourceContext: text(source["SourceContext"]), mediaURL: text(basic["MediaUrl"]),
            coverURL: text(basic["CoverUrl"]),
            createdAt: text(basic["CreateTime"]).flatMap(ISO8601Timestamp.parse).map { Int64($0.timeIntervalSince1970) },
            classID: (basic["ClassId"] as? NSNumber)?.intValue, description: basic["Description"] as? String,
            tags: basic["TagSet"] as? [String])
    }
}

extension TencentProvider: ProcessingEvents {
    /// PullEvents (protocol notes §3.7, §3.10): up to 16 events, waiting up to 5 s when none is
    /// queued. NewFileUpload gives the FileId, the SourceContext passed through and the
    /// ProcedureTaskId; ProcedureStateChanged the task's Status (`PROCESSING`, `FINISH`; an ErrCode
    /// other than 0 is a failure); any other event (FileDeleted, ...) is passed on as `other`.
    public func nextEvents(fileIDs: [String]) async throws -> [ProcessingEvent] {
        let answer = try await api.call("PullEvents", ["SubAppId": configuration.subAppID], step: "events")
        let now = Int64(Date().timeIntervalSince1970)
        var events: [ProcessingEvent] = []
        for object in answer.response["EventSet"] as? [[String: Any]] ?? [] {
            let type = object["EventType"] as? String ?? "?"
            let handle = object["EventHandle"] as? String
            func text(_ value: Any?) -> String? { (value as? String).flatMap { $0.isEmpty ? nil : $0 } }
            switch type {
            case "NewFileUpload":
                let upload = object["FileUploadEvent"] as? [String: Any] ?? [:]
                let basic = upload["MediaBasicInfo"] as? [String: Any] ?? [:]
                let source = basic["SourceInfo"] as? [String: Any] ?? [:]
                let created = text(basic["CreateTime"]).flatMap(ISO8601Timestamp.parse).map { Int64($0.timeIntervalSince1970) }
                events.append(
                    ProcessingEvent(
                        kind: .upload, type: type, fileID: text(upload["FileId"]), at: created ?? now,
                        sourceContext: text(source["SourceContext"]), taskID: text(upload["ProcedureTaskId"]), handle: handle))
            case "ProcedureStateChanged":
                let change = object["ProcedureStateChangeEvent"] as? [String: Any] ?? [:]
                let code = (change["ErrCode"] as? NSNumber)?.intValue ?? 0
                let failure = code == 0 ? nil : "\(code) \(change["Message"] as? String ?? "")".trimmingCharacters(in: .whitespaces)
                events.append(
                    ProcessingEvent(
                        kind: .procedure, type: type, fileID: text(change["FileId"]), at: now, taskID: text(change["TaskId"]),
                        status: text(change["Status"]), failure: failure, handle: handle))
            default:
                // The media an event is about, wherever its type keeps it (FileDeleted: FileIdSet).
                let body = object.first { $0.key.hasSuffix("Event") && $0.value is [String: Any] }?.value as? [String: Any] ?? [:]
                let id = text(body["FileId"]) ?? (body["FileIdSet"] as? [String])?.first
                events.append(ProcessingEvent(kind: .other, type: type, fileID: id, at: now, handle: handle))
            }
        }
        return events
    }

    /// ConfirmEvents of at most 16 handles.
    public func confirmEvents(_ handles: [String]) async throws {
        guard !handles.isEmpty else { return }
        _ = try await api.call("ConfirmEvents", ["EventHandles": handles, "SubAppId": configuration.subAppID], step: "events")
    }
}
