import Crypto
import Foundation
import GRDB
import IngestCore
import VendorSigning

/// The emulator's state and rules: issued credentials and sessions, stored objects, multipart
/// uploads, the media catalogue, the event queue and counters. Everything but counters and rate
/// windows is persisted in ``EmulatorDatabase`` before a request is answered, so a restarted (or
/// killed) emulator keeps what the cloud would keep. The hot tables are also held in memory.
actor EmulatorStore {
    typealias Credential = EmulatorDatabase.Credential
    typealias Session = EmulatorDatabase.Session
    typealias StoredObject = EmulatorDatabase.StoredObject
    typealias Part = EmulatorDatabase.Part

    struct Multipart {
        var bucket: String
        var key: String
        var parts: [Int: Part] = [:]
        var initiated: Int64
    }

    private(set) var configuration: EmulatorConfiguration
    let database: EmulatorDatabase
    var credentials: [String: Credential] = [:]
    /// RPC signature nonces seen in the last 15 minutes (Alibaba `SignatureNonceUsed`).
    var nonces: [String: Int64] = [:]
    private var sessions: [String: Session] = [:]
    var objects: [String: StoredObject] = [:]
    private var uploads: [String: Multipart] = [:]
    var counters = EmulatorCounters()
    private var windows: [String: (second: Int64, count: Int)] = [:]
    /// Whole-object MD5s of multipart objects, by object file, once computed (see ``md5(stored:file:)``).
    private var objectMD5s: [String: String] = [:]
    /// `http://HOST:PORT`, known once the listener is bound; MediaUrl and CoverUrl start with it.
    private(set) var baseURL = "http://127.0.0.1"

    init(configuration: EmulatorConfiguration) throws {
        self.configuration = configuration
        let fm = FileManager.default
        do {
            for sub in ["objects", "parts", "incoming"] {
                try fm.createDirectory(atPath: configuration.dataDirectory + "/" + sub, withIntermediateDirectories: true)
            }
            database = try EmulatorDatabase(path: configuration.dataDirectory + "/emulator.sqlite")
        } catch {
            throw EmulatorError(message: "cannot use \(configuration.dataDirectory) for the emulator's data: \(error.localizedDescription)")
        }
        let now = Int64(Date().timeIntervalSince1970)
        let loaded = try database.queue.write { db in
            // What cannot be used any more is dropped at start.
            try db.execute(sql: "DELETE FROM credential WHERE expiresAt < ?", arguments: [now])
            var uploads: [String: Multipart] = [:]
            for u in try EmulatorDatabase.Upload.fetchAll(db) {
                uploads[u.uploadID] = Multipart(bucket: u.bucket, key: u.key, initiated: u.initiated)
            }
            for p in try Part.fetchAll(db) { uploads[p.uploadID]?.parts[p.number] = p }
            return (
                try Credential.fetchAll(db), try Session.fetchAll(db), try StoredObject.fetchAll(db), uploads
            )
        }
        credentials = Dictionary(loaded.0.map { ($0.secretID, $0) }, uniquingKeysWith: { $1 })
        sessions = Dictionary(loaded.1.map { ($0.key, $0) }, uniquingKeysWith: { $1 })
        objects = Dictionary(loaded.2.map { ($0.id, $0) }, uniquingKeysWith: { $1 })
        uploads = loaded.3
        // Files a killed emulator left half-received.
        for name in (try? fm.contentsOfDirectory(atPath: configuration.dataDirectory + "/incoming")) ?? [] {
            try? fm.removeItem(atPath: configuration.dataDirectory + "/incoming/" + name)
        }
    }

    func update(_ change: @Sendable (inout EmulatorConfiguration) -> Void) {
        change(&configuration)
    }

    func setBaseURL(_ url: String) { baseURL = url }

    // MARK: Counters and limits

    func countAPI(_ action: String) { counters.apiCalls[action, default: 0] += 1 }
    func countAPIError(_ code: String) { counters.apiErrors[code, default: 0] += 1 }
    func countCOS(_ operation: String) { counters.cosRequests[operation, default: 0] += 1 }
    func countCOSError(_ code: String) { counters.cosErrors[code, default: 0] += 1 }
    func countReset() { counters.connectionResets += 1 }
    func received(_ bytes: Int64) { counters.bytesReceived += bytes }

    /// Whether one more call of `action` fits this second's budget.
    func admit(_ action: String, now: Int64) -> Bool {
        let limit = configuration.actionRateLimit
        guard limit > 0 else { return true }
        var window = windows[action] ?? (now, 0)
        if window.second != now { window = (now, 0) }
        window.count += 1
        windows[action] = window
        return Double(window.count) <= limit
    }

    // MARK: Sessions

    func issue(session: Session, credential: Credential) throws {
        try database.queue.write { db in
            try session.insert(db)
            try credential.insert(db)
        }
        sessions[session.key] = session
        credentials[credential.secretID] = credential
    }

    func credential(_ id: String) -> Credential? { credentials[id] }

    enum CommitOutcome {
        case committed(EmulatedMedia, repeated: Bool)
        case unknownSession
        case expired
        case rejectedRepeat
        case missingMedia
        case missingCover
        /// An HLS playlist names a file that is not under the session's folder.
        case missingSegment(String)
        case subAppMismatch
    }

    /// The first file an HLS package's playlist at `key` names (recursively) that `bucket` does
    /// not hold under the playlist's folder; nil when the package is whole.
    func missingSegment(bucket: String, playlistKey key: String) -> String? {
        let folder = HLSPlaylist.folder(of: key)
        var queue = [(key: key, base: "")]
        var seen: Set<String> = []
        while !queue.isEmpty {
            let playlist = queue.removeFirst()
            guard let object = objects[bucket + "/" + playlist.key],
                let data = FileManager.default.contents(atPath: object.path), let text = String(data: data, encoding: .utf8)
            else { return playlist.key }
            for uri in HLSPlaylist.references(text) {
                guard let relative = HLSPlaylist.resolve(uri, against: playlist.base) else { return uri }
                guard seen.insert(relative).inserted else { continue }
                let segmentKey = folder.isEmpty ? relative : folder + "/" + relative
                guard objects[bucket + "/" + segmentKey] != nil else { return relative }
                if HLSPlaylist.namesPlaylist(uri) { queue.append((segmentKey, HLSPlaylist.folder(of: relative))) }
            }
        }
        return nil
    }

    func commit(sessionKey: String, subAppID: Int?, now: Int64) throws -> CommitOutcome {
        guard var session = sessions[sessionKey] else { return .unknownSession }
        if now - session.createdAt > configuration.sessionLifetime { return .expired }
        if session.subAppID != subAppID { return .subAppMismatch }
        if let done = session.fileID {
            if configuration.commitPolicy == .reject { return .rejectedRepeat }
            counters.repeatedCommits += 1
            // A deleted media stays spent: its key does not commit again.
            guard let entry = media(done) else { return .rejectedRepeat }
            return .committed(entry, repeated: true)
        }
        let bucket = configuration.bucket
        guard let object = objects[bucket + "/" + session.mediaKey] else { return .missingMedia }
        var cover: StoredObject? = nil
        if let coverKey = session.coverKey {
            guard let found = objects[bucket + "/" + coverKey] else { return .missingCover }
            cover = found
        }
        if session.mediaType.lowercased() == "m3u8", let missing = missingSegment(bucket: bucket, playlistKey: session.mediaKey) {
            return .missingSegment(missing)
        }
        let ext = (session.mediaKey as NSString).pathExtension
        let record = try database.queue.write { db -> EmulatorDatabase.Media in
            var fileID: String
            repeat {
                fileID = String(UInt64.random(in: 5_285_890_000_000_000_000...9_000_000_000_000_000_000))
            } while try EmulatorDatabase.Media.exists(db, key: fileID)
            let record = EmulatorDatabase.Media(
                fileID: fileID, name: session.name, mediaType: session.mediaType, size: object.size, md5: object.md5,
                sourceContext: session.sourceContext, sessionContext: session.sessionContext, classID: session.classID,
                procedure: session.procedure, storagePath: "/" + session.mediaKey, coverPath: session.coverKey.map { "/" + $0 },
                coverSize: cover?.size, mediaPath: "/vod/\(fileID)/f0.\(ext)",
                coverURLPath: session.coverKey.map { "/vod/\(fileID)/cover.\(($0 as NSString).pathExtension)" },
                createdAt: now, sessionKey: sessionKey, subAppID: session.subAppID, objectFile: object.path, coverFile: cover?.path,
                storageRegion: session.storageRegion, expireTime: session.expireTime,
                procedureTaskID: session.procedure.map { _ in "\(configuration.appID)-procedurev2-" + UUID().uuidString.lowercased() })
            try record.insert(db)
            try db.execute(sql: "UPDATE session SET fileID = ? WHERE key = ?", arguments: [fileID, sessionKey])
            try EmulatorDatabase.Event(
                subAppID: session.subAppID, content: Self.newFileUploadEvent(record, base: baseURL, region: configuration.storageRegion),
                createdAt: now
            ).insert(db)
            // A procedure runs as a task: PROCESSING at once, FINISH after its processing time.
            if let task = record.procedureTaskID {
                let delay = Int64(configuration.processingDelaySeconds.rounded(.up))
                for (status, at) in [("PROCESSING", now), ("FINISH", now + delay)] {
                    try EmulatorDatabase.Event(
                        subAppID: session.subAppID, content: Self.procedureEvent(record, task: task, status: status), createdAt: now,
                        availableAt: at
                    ).insert(db)
                }
            }
            return record
        }
        session.fileID = record.fileID
        sessions[sessionKey] = session
        counters.commits += 1
        // CommitUpload answers FileId and URLs: the object's MD5 is not worked out for it.
        return .committed(present(record, md5: false), repeated: false)
    }

    // MARK: Catalogue

    /// The MD5 of an object: `stored` when it is known, else computed from `file` now and kept.
    /// Complete Multipart Upload does not hash the object again (its parts were hashed as they
    /// arrived, and COS and OSS keep no MD5 of a multipart object: its ETag is the MD5 of the parts'
    /// MD5s); the platform's MetaData.Md5 / FileMD5 is worked out when a catalogue call first shows it.
    func md5(stored: String?, file: String?) -> String? {
        if let stored, !stored.isEmpty { return stored }
        guard let file else { return stored }
        if let known = objectMD5s[file] { return known }
        guard let computed = Self.md5(ofFile: file) else { return stored }
        objectMD5s[file] = computed
        try? database.queue.write { db in
            try db.execute(sql: "UPDATE object SET md5 = ? WHERE path = ? AND md5 = ''", arguments: [computed, file])
            try db.execute(sql: "UPDATE media SET md5 = ? WHERE objectFile = ? AND md5 = ''", arguments: [computed, file])
            try db.execute(sql: "UPDATE video SET md5 = ? WHERE objectFile = ? AND (md5 IS NULL OR md5 = '')", arguments: [computed, file])
        }
        return computed
    }

    /// The MD5 of a whole file, streamed in 1 MiB reads.
    static func md5(ofFile path: String) -> String? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        var hasher = Insecure.MD5()
        while let chunk = try? handle.read(upToCount: 1 << 20), !chunk.isEmpty { hasher.update(data: chunk) }
        return Hex.encode(hasher.finalize())
    }

    /// The public view of a catalogue row, URLs on the current address; with `md5`, the object's
    /// MD5 worked out if it is not known yet.
    func present(_ m: EmulatorDatabase.Media, md5 resolve: Bool = true) -> EmulatedMedia {
        EmulatedMedia(
            fileID: m.fileID, name: m.name, mediaType: m.mediaType, size: m.size,
            md5: resolve ? md5(stored: m.md5, file: m.objectFile) ?? "" : m.md5,
            sourceContext: m.sourceContext,
            classID: m.classID, procedure: m.procedure, storagePath: m.storagePath, coverPath: m.coverPath, coverSize: m.coverSize,
            mediaURL: baseURL + m.mediaPath, coverURL: m.coverURLPath.map { baseURL + $0 },
            createTime: Self.iso8601(m.createdAt), sessionKey: m.sessionKey, subAppID: m.subAppID, sessionContext: m.sessionContext,
            storageRegion: m.storageRegion, expireTime: m.expireTime, description: m.mediaDescription,
            tags: m.tags.flatMap { try? JSONDecoder().decode([String].self, from: Data($0.utf8)) },
            updateTime: Self.iso8601(m.updatedAt ?? m.createdAt))
    }

    /// What a ModifyMediaInfo changes; nil fields stay as they are.
    struct MediaChange: Sendable {
        var name: String?
        var description: String?
        var classID: Int?
        var expireTime: String?
        var addTags: [String] = []
        var deleteTags: [String] = []
        var clearTags = false
    }

    enum ModifyOutcome { case modified, notFound, tooManyTags(Int) }

    /// ModifyMediaInfo (§3.8): the fields given replace the media's; tags are added, deleted or cleared.
    func modify(fileID: String, subAppID: Int?, _ change: MediaChange, now: Int64) throws -> ModifyOutcome {
        try database.queue.write { db in
            guard var m = try EmulatorDatabase.Media.fetchOne(db, key: fileID), m.subAppID == subAppID else { return .notFound }
            var tags = m.tags.flatMap { try? JSONDecoder().decode([String].self, from: Data($0.utf8)) } ?? []
            if change.clearTags { tags = [] }
            tags.removeAll { change.deleteTags.contains($0) }
            for tag in change.addTags where !tags.contains(tag) { tags.append(tag) }
            guard tags.count <= 16 else { return .tooManyTags(tags.count) }
            if let name = change.name { m.name = name }
            if let description = change.description { m.mediaDescription = description }
            if let classID = change.classID { m.classID = classID }
            if let expire = change.expireTime { m.expireTime = expire }
            m.tags = String(decoding: try JSONEncoder().encode(tags), as: UTF8.self)
            m.updatedAt = now
            try m.update(db)
            return .modified
        }
    }

    func listing() throws -> [EmulatedMedia] {
        try database.queue.read { db in try EmulatorDatabase.Media.order(Column("createdAt"), Column("rowid")).fetchAll(db) }.map {
            present($0)
        }
    }

    func media(_ fileID: String) -> EmulatedMedia? {
        (try? database.queue.read { db in try EmulatorDatabase.Media.fetchOne(db, key: fileID) }).map { present($0) }
    }

    /// The SearchMedia filters the emulator implements (protocol notes §3.5).
    struct Search: Sendable {
        var fileIDs: [String] = []
        var names: [String] = []
        var namePrefixes: [String] = []
        var classIDs: [Int] = []
        var mediaTypes: [String] = []
        var createdAfter: Int64?
        var createdBefore: Int64?
        var subAppID: Int?
        var ascending = false
        var offset = 0
        var limit = 10
    }

    func search(_ s: Search) throws -> (total: Int, media: [EmulatedMedia]) {
        var clauses: [String] = []
        var bound: [any DatabaseValueConvertible] = []
        /// Values of one filter are ORed; filters are ANDed.
        func anyOf(_ clause: String, _ bindings: [[any DatabaseValueConvertible]]) {
            guard !bindings.isEmpty else { return }
            clauses.append("(" + Array(repeating: clause, count: bindings.count).joined(separator: " OR ") + ")")
            for b in bindings { bound += b }
        }
        func like(_ s: String) -> String {
            s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(
                of: "_", with: "\\_")
        }
        anyOf("fileID = ?", s.fileIDs.map { [$0] })
        anyOf("name LIKE ? ESCAPE '\\'", s.names.map { ["%" + like($0) + "%"] })
        // Prefixes are case-sensitive, like the platform's.
        anyOf("substr(name, 1, length(?)) = ?", s.namePrefixes.map { [$0, $0] })
        anyOf("classID = ?", s.classIDs.map { [$0] })
        anyOf("mediaType = ?", s.mediaTypes.map { [$0.lowercased()] })
        if let after = s.createdAfter { anyOf("createdAt >= ?", [[after]]) }
        if let before = s.createdBefore { anyOf("createdAt < ?", [[before]]) }
        if let sub = s.subAppID { anyOf("subAppID IS ?", [[sub]]) }
        let arguments = StatementArguments(bound) ?? StatementArguments()
        let whereSQL = clauses.isEmpty ? "" : " WHERE " + clauses.joined(separator: " AND ")
        let order = s.ascending ? "ASC" : "DESC"
        return try database.queue.read { db in
            let total = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM media" + whereSQL, arguments: arguments) ?? 0
            var pageArguments = arguments
            pageArguments += [s.limit, s.offset]
            let rows = try EmulatorDatabase.Media.fetchAll(
                db, sql: "SELECT * FROM media\(whereSQL) ORDER BY createdAt \(order), rowid \(order) LIMIT ? OFFSET ?",
                arguments: pageArguments)
            return (min(total, 5000), rows.map { present($0) })
        }
    }

    /// Deletes a media with its original file and cover. Returns false when there is no such FileId.
    func delete(fileID: String, now: Int64) throws -> Bool {
        guard let record = try database.queue.read({ db in try EmulatorDatabase.Media.fetchOne(db, key: fileID) }) else { return false }
        let bucket = configuration.bucket
        let ids = [bucket + record.storagePath] + (record.coverPath.map { [bucket + $0] } ?? [])
        try database.queue.write { db in
            _ = try EmulatorDatabase.Media.deleteOne(db, key: fileID)
            for id in ids { _ = try StoredObject.deleteOne(db, key: id) }
            let event: [String: Any] = [
                "EventType": "FileDeleted",
                "FileDeleteEvent": [
                    "FileIdSet": [fileID],
                    "FileDeleteResultInfo": [["FileId": fileID, "DeleteParts": [["Type": "OriginalFiles", "Definition": 0]]]],
                ],
            ]
            try EmulatorDatabase.Event(subAppID: record.subAppID, content: Self.json(event), createdAt: now).insert(db)
        }
        for id in ids {
            if let object = objects.removeValue(forKey: id) { try? FileManager.default.removeItem(atPath: object.path) }
        }
        counters.deletes += 1
        return true
    }

    /// Where a file of an HLS media's package is (Tencent: under the media's storage folder;
    /// Alibaba: under the video's ObjectPrefix); nil when there is none at that relative path.
    func packageFile(id: String, relative: String) -> String? {
        guard let clean = HLSPlaylist.resolve(relative, against: "") else { return nil }
        if let record = try? database.queue.read({ db in try EmulatorDatabase.Media.fetchOne(db, key: id) }),
            record.mediaType.lowercased() == "m3u8"
        {
            let folder = HLSPlaylist.folder(of: String(record.storagePath.dropFirst()))
            return objects[configuration.bucket + "/" + folder + "/" + clean]?.path
        }
        if let video = video(id: id), let prefix = Self.objectPrefix(of: video.objectKey) {
            return objects[video.bucket + "/" + prefix + clean]?.path
        }
        return nil
    }

    /// Where the bytes of a committed media (or its cover) are.
    func file(fileID: String, cover: Bool) -> String? {
        guard let record = try? database.queue.read({ db in try EmulatorDatabase.Media.fetchOne(db, key: fileID) }) else { return nil }
        return cover ? record.coverFile : record.objectFile
    }

    // MARK: Events (PullEvents / ConfirmEvents, §3.7)

    /// Up to 16 events of this SubAppId that are not confirmed and not leased, each leased for 30 s
    /// under a fresh handle.
    func pullEvents(subAppID: Int?, now: Int64) throws -> [(handle: String, content: String)] {
        try database.queue.write { db in
            let events = try EmulatorDatabase.Event.fetchAll(
                db,
                sql: """
                    SELECT * FROM event WHERE subAppID IS ? AND (leaseUntil IS NULL OR leaseUntil <= ?)
                        AND (availableAt IS NULL OR availableAt <= ?) ORDER BY id LIMIT 16
                    """,
                arguments: [subAppID, now, now])
            var out: [(String, String)] = []
            for var event in events {
                let handle = EmulatorConfiguration.randomKey(prefix: "", length: 32)
                event.handle = handle
                event.leaseUntil = now + Int64(configuration.eventLeaseSeconds.rounded(.up))
                try event.update(db)
                out.append((handle, event.content))
            }
            return out
        }.map { ($0.0, withMetaDataMD5($0.1)) }
    }

    /// The events not confirmed yet, oldest first (the admin listing): type, media, and whether pulled and leased now.
    func pendingEvents(now: Int64) throws -> [EmulatedEvent] {
        try database.queue.read { db in
            try EmulatorDatabase.Event.order(Column("id")).fetchAll(db).map { event in
                let object = (try? JSONSerialization.jsonObject(with: Data(event.content.utf8))) as? [String: Any] ?? [:]
                let body = object.first { $0.key.hasSuffix("Event") && $0.value is [String: Any] }?.value as? [String: Any] ?? [:]
                return EmulatedEvent(
                    id: event.id ?? 0, type: object["EventType"] as? String ?? "?",
                    fileID: body["FileId"] as? String ?? (body["FileIdSet"] as? [String])?.first, leased: (event.leaseUntil ?? 0) > now,
                    available: (event.availableAt ?? 0) <= now)
            }
        }
    }

    /// A NewFileUpload event of a multipart object, whose MetaData.Md5 was not known at commit, with it.
    private func withMetaDataMD5(_ content: String) -> String {
        guard content.contains("FileUploadEvent"),
            var event = (try? JSONSerialization.jsonObject(with: Data(content.utf8))) as? [String: Any],
            var upload = event["FileUploadEvent"] as? [String: Any], var meta = upload["MetaData"] as? [String: Any],
            (meta["Md5"] as? String)?.isEmpty == true, let fileID = upload["FileId"] as? String,
            let md5 = md5(stored: nil, file: file(fileID: fileID, cover: false))
        else { return content }
        meta["Md5"] = md5
        upload["MetaData"] = meta
        event["FileUploadEvent"] = upload
        return Self.json(event)
    }

    enum ConfirmOutcome { case confirmed, unknown([String]) }

    /// Removes the events of these handles; a handle that is unknown or whose lease ran out fails the call.
    func confirmEvents(_ handles: [String], now: Int64) throws -> ConfirmOutcome {
        try database.queue.write { db in
            var unknown: [String] = []
            for handle in handles {
                let count = try EmulatorDatabase.Event.filter(Column("handle") == handle && Column("leaseUntil") > now).fetchCount(db)
                if count == 0 { unknown.append(handle) }
            }
            guard unknown.isEmpty else { return .unknown(unknown) }
            for handle in handles { _ = try EmulatorDatabase.Event.filter(Column("handle") == handle).deleteAll(db) }
            return .confirmed
        }
    }

    static func newFileUploadEvent(_ m: EmulatorDatabase.Media, base: String, region: String) -> String {
        let basic: [String: Any] = [
            "Name": m.name, "Description": "", "CreateTime": iso8601(m.createdAt), "UpdateTime": iso8601(m.createdAt),
            "ExpireTime": m.expireTime ?? "9999-12-31T23:59:59Z", "ClassId": m.classID, "CoverUrl": m.coverURLPath.map { base + $0 } ?? "",
            "Type": m.mediaType, "MediaUrl": base + m.mediaPath,
            "SourceInfo": ["SourceType": "Upload", "SourceContext": m.sourceContext ?? ""], "StorageRegion": m.storageRegion ?? region,
            "StoragePath": m.storagePath, "TagSet": [String](), "Vid": "", "Category": "Video", "Status": "Normal",
            "StorageClass": "STANDARD",
        ]
        let event: [String: Any] = [
            "EventType": "NewFileUpload",
            "FileUploadEvent": [
                "FileId": m.fileID, "MediaBasicInfo": basic, "ProcedureTaskId": m.procedureTaskID ?? "", "ReviewAudioVideoTaskId": "",
                "MetaData": ["Size": m.size, "Container": m.mediaType, "Md5": m.md5] as [String: Any],
            ] as [String: Any],
        ]
        return json(event)
    }

    /// ProcedureStateChanged (§3.10): the task of the media's procedure, its status, the
    /// SessionContext ApplyUpload carried.
    static func procedureEvent(_ m: EmulatorDatabase.Media, task: String, status: String) -> String {
        let change: [String: Any] = [
            "TaskId": task, "Status": status, "ErrCode": 0, "Message": "", "FileId": m.fileID, "FileName": m.name,
            "FileUrl": m.mediaPath, "MetaData": ["Size": m.size, "Container": m.mediaType] as [String: Any],
            "MediaProcessResultSet": [Any](), "AiContentReviewResultSet": [Any](), "AiAnalysisResultSet": [Any](),
            "AiRecognitionResultSet": [Any](), "TasksPriority": 0, "TasksNotifyMode": "", "SessionContext": m.sessionContext ?? "",
            "SessionId": "", "Operator": "", "OperationType": "",
        ]
        return json(["EventType": "ProcedureStateChanged", "ProcedureStateChangeEvent": change])
    }

    static func json(_ object: [String: Any]) -> String {
        let data =
            (try? JSONSerialization.data(withJSONObject: object, options: [.withoutEscapingSlashes])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    static func iso8601(_ seconds: Int64) -> String { ISO8601Timestamp.format(seconds) }

    // MARK: Objects

    func store(
        bucket: String, key: String, path: String, size: Int64, md5: String, etag: String, crc64: String? = nil,
        alsoWrite: (Database) throws -> Void = { _ in }
    ) throws {
        let id = bucket + "/" + key
        let object = StoredObject(id: id, path: path, size: size, md5: md5, etag: etag, crc64: crc64)
        try database.queue.write { db in
            try object.save(db)
            try alsoWrite(db)
        }
        // An overwritten object's bytes go, unless a committed media still points at them.
        if let old = objects[id], old.path != path, !referenced(old.path) { try? FileManager.default.removeItem(atPath: old.path) }
        objects[id] = object
    }

    func referenced(_ file: String) -> Bool {
        (try? database.queue.read { db in
            try EmulatorDatabase.Media.filter(Column("objectFile") == file || Column("coverFile") == file).fetchCount(db)
                + EmulatorDatabase.Video.filter(Column("objectFile") == file).fetchCount(db)
                + EmulatorDatabase.Image.filter(Column("objectFile") == file).fetchCount(db)
        }) ?? 1 > 0
    }

    func object(bucket: String, key: String) -> StoredObject? { objects[bucket + "/" + key] }

    func initiate(bucket: String, key: String) throws -> String {
        var id = ""
        for _ in 0..<4 { id += String(format: "%08x", UInt32.random(in: 0...UInt32.max)) }
        let now = Int64(Date().timeIntervalSince1970)
        let uploadID = "\(now)\(id)"
        try database.queue.write { db in
            try EmulatorDatabase.Upload(uploadID: uploadID, bucket: bucket, key: key, initiated: now).insert(db)
        }
        uploads[uploadID] = Multipart(bucket: bucket, key: key, initiated: now)
        return uploadID
    }

    func upload(_ id: String) -> Multipart? { uploads[id] }

    func storePart(_ id: String, number: Int, path: String, size: Int64, md5: String, crc64: String? = nil) throws -> Bool {
        guard var upload = uploads[id] else { return false }
        let part = Part(uploadID: id, number: number, path: path, size: size, md5: md5, crc64: crc64)
        try database.queue.write { db in try part.save(db) }
        if let old = upload.parts[number], old.path != path { try? FileManager.default.removeItem(atPath: old.path) }
        upload.parts[number] = part
        uploads[id] = upload
        return true
    }

    func uploads(bucket: String, prefix: String) -> [(String, Multipart)] {
        uploads.filter { $0.value.bucket == bucket && $0.value.key.hasPrefix(prefix) }.sorted { $0.key < $1.key }
    }

    /// Ends a multipart upload (completed or aborted) and deletes its parts.
    func finish(_ id: String) throws -> Multipart? {
        guard let upload = uploads[id] else { return nil }
        try database.queue.write { db in _ = try EmulatorDatabase.Upload.deleteOne(db, key: id) }
        uploads[id] = nil
        for part in upload.parts.values { try? FileManager.default.removeItem(atPath: part.path) }
        return upload
    }
}
