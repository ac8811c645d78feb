import Foundation

/// The emulator's state: issued credentials and sessions, stored objects, multipart uploads, the
/// media catalogue (persisted as JSON lines, so a restart keeps what was committed) and counters.
actor EmulatorStore {
    struct Credential {
        var secretKey: String
        var token: String
        var expiresAt: Int64
        var bucket: String
        var keys: Set<String>
    }

    struct Session {
        var key: String
        var mediaKey: String
        var coverKey: String?
        var mediaType: String
        var name: String
        var sourceContext: String?
        var classID: Int
        var procedure: String?
        var createdAt: Int64
        var subAppID: Int?
        var committed: EmulatedMedia?
    }

    struct StoredObject {
        var path: String
        var size: Int64
        var md5: String
        var etag: String
    }

    struct Part {
        var path: String
        var size: Int64
        var md5: String
    }

    struct Multipart {
        var bucket: String
        var key: String
        var parts: [Int: Part] = [:]
        var initiated: Date
    }

    private(set) var configuration: EmulatorConfiguration
    private var credentials: [String: Credential] = [:]
    private var sessions: [String: Session] = [:]
    private var objects: [String: StoredObject] = [:]
    private var uploads: [String: Multipart] = [:]
    private var media: [String: EmulatedMedia] = [:]
    private var mediaOrder: [String] = []
    private(set) var counters = EmulatorCounters()
    private var windows: [String: (second: Int64, count: Int)] = [:]
    private let catalogue: String

    init(configuration: EmulatorConfiguration) throws {
        self.configuration = configuration
        let fm = FileManager.default
        for sub in ["objects", "parts", "incoming"] {
            try fm.createDirectory(atPath: configuration.dataDirectory + "/" + sub, withIntermediateDirectories: true)
        }
        catalogue = configuration.dataDirectory + "/catalogue.jsonl"
        if let data = fm.contents(atPath: catalogue) {
            for line in data.split(separator: UInt8(ascii: "\n")) {
                if let entry = try? JSONDecoder().decode(EmulatedMedia.self, from: Data(line)) {
                    if media[entry.fileID] == nil { mediaOrder.append(entry.fileID) }
                    media[entry.fileID] = entry
                }
            }
        }
    }

    func update(_ change: @Sendable (inout EmulatorConfiguration) -> Void) {
        change(&configuration)
    }

    // MARK: Counters and limits

    func countAPI(_ action: String) { counters.apiCalls[action, default: 0] += 1 }
    func countAPIError(_ code: String) { counters.apiErrors[code, default: 0] += 1 }
    func countCOS(_ operation: String) { counters.cosRequests[operation, default: 0] += 1 }
    func countCOSError(_ code: String) { counters.cosErrors[code, default: 0] += 1 }
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

    func issue(session: Session, credential id: String, _ credential: Credential) {
        sessions[session.key] = session
        credentials[id] = credential
    }

    func credential(_ id: String) -> Credential? { credentials[id] }

    enum CommitOutcome {
        case committed(EmulatedMedia, repeated: Bool)
        case unknownSession
        case expired
        case rejectedRepeat
        case missingMedia
        case missingCover
        case subAppMismatch
    }

    func commit(sessionKey: String, subAppID: Int?, now: Int64, baseURL: String) -> CommitOutcome {
        guard var session = sessions[sessionKey] else { return .unknownSession }
        if now - session.createdAt > configuration.sessionLifetime { return .expired }
        if session.subAppID != subAppID { return .subAppMismatch }
        if let done = session.committed {
            if configuration.commitPolicy == .reject { return .rejectedRepeat }
            counters.repeatedCommits += 1
            return .committed(done, repeated: true)
        }
        let bucket = configuration.bucket
        guard let object = objects[bucket + "/" + session.mediaKey] else { return .missingMedia }
        var cover: StoredObject? = nil
        if let coverKey = session.coverKey {
            guard let found = objects[bucket + "/" + coverKey] else { return .missingCover }
            cover = found
        }
        var fileID: String
        repeat { fileID = String(UInt64.random(in: 5_285_890_000_000_000_000...9_000_000_000_000_000_000)) } while media[fileID] != nil
        let ext = (session.mediaKey as NSString).pathExtension
        let entry = EmulatedMedia(
            fileID: fileID, name: session.name, mediaType: session.mediaType, size: object.size, md5: object.md5,
            sourceContext: session.sourceContext, classID: session.classID, procedure: session.procedure,
            storagePath: "/" + session.mediaKey, coverPath: session.coverKey.map { "/" + $0 }, coverSize: cover?.size,
            mediaURL: "\(baseURL)/vod/\(fileID)/f0.\(ext)",
            coverURL: session.coverKey.map { "\(baseURL)/vod/\(fileID)/cover.\(($0 as NSString).pathExtension)" },
            createTime: ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: TimeInterval(now))),
            sessionKey: sessionKey)
        session.committed = entry
        sessions[sessionKey] = session
        media[fileID] = entry
        mediaOrder.append(fileID)
        counters.commits += 1
        if let line = try? JSONEncoder().encode(entry), let handle = FileHandle(forWritingAtPath: catalogue) ?? {
            FileManager.default.createFile(atPath: catalogue, contents: nil)
            return FileHandle(forWritingAtPath: catalogue)
        }() {
            handle.seekToEndOfFile()
            handle.write(line + Data([0x0A]))
            try? handle.synchronize()
            try? handle.close()
        }
        return .committed(entry, repeated: false)
    }

    func listing() -> [EmulatedMedia] { mediaOrder.compactMap { media[$0] } }
    func media(_ fileID: String) -> EmulatedMedia? { media[fileID] }

    func objectPath(bucket: String, key: String) -> String? { objects[bucket + "/" + key]?.path }

    /// Where the bytes of a committed media (or its cover) are.
    func file(fileID: String, cover: Bool) -> String? {
        guard let entry = media[fileID] else { return nil }
        let path = cover ? entry.coverPath : entry.storagePath
        return path.flatMap { objects[configuration.bucket + "/" + String($0.dropFirst())]?.path }
    }

    // MARK: Objects

    func store(bucket: String, key: String, _ object: StoredObject) {
        let id = bucket + "/" + key
        if let old = objects[id], old.path != object.path { try? FileManager.default.removeItem(atPath: old.path) }
        objects[id] = object
    }

    func object(bucket: String, key: String) -> StoredObject? { objects[bucket + "/" + key] }

    func initiate(bucket: String, key: String) -> String {
        var id = ""
        for _ in 0..<4 { id += String(format: "%08x", UInt32.random(in: 0...UInt32.max)) }
        let uploadID = "\(Int(Date().timeIntervalSince1970))\(id)"
        uploads[uploadID] = Multipart(bucket: bucket, key: key, initiated: Date())
        return uploadID
    }

    func upload(_ id: String) -> Multipart? { uploads[id] }

    func storePart(_ id: String, number: Int, _ part: Part) -> Bool {
        guard var upload = uploads[id] else { return false }
        if let old = upload.parts[number], old.path != part.path { try? FileManager.default.removeItem(atPath: old.path) }
        upload.parts[number] = part
        uploads[id] = upload
        return true
    }

    func uploads(bucket: String, prefix: String) -> [(String, Multipart)] {
        uploads.filter { $0.value.bucket == bucket && $0.value.key.hasPrefix(prefix) }.sorted { $0.key < $1.key }
    }

    func finish(_ id: String) -> Multipart? {
        guard let upload = uploads.removeValue(forKey: id) else { return nil }
        for part in upload.parts.values { try? FileManager.default.removeItem(atPath: part.path) }
        return upload
    }
}
