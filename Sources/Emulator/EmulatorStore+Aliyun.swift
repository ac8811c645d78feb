import Foundation
import GRDB
import IngestCore

/// The Alibaba dialect's state: videos and images with the STS credentials that cover their one
/// object key, and the signature nonces of the last 15 minutes. Objects, multipart uploads and
/// credentials are the same tables as Tencent's.
extension EmulatorStore {
    typealias Video = EmulatorDatabase.Video
    typealias Image = EmulatorDatabase.Image

    /// Records a signature nonce; false when it was used in the last 15 minutes.
    func useNonce(_ nonce: String, now: Int64) -> Bool {
        if nonces.count > 100_000 { nonces = nonces.filter { now - $0.value < 900 } }
        if let seen = nonces[nonce], now - seen < 900 { return false }
        nonces[nonce] = now
        return true
    }

    /// Issues STS credentials for one object key of the Alibaba bucket; `alsoWrite` joins the same
    /// transaction (one write a call: the emulator's SQLite is its bottleneck on small files).
    func issueSTS(key: String, now: Int64, alsoWrite: (Database) throws -> Void = { _ in }) throws -> Credential {
        // An m3u8 video's segments go under its ObjectPrefix, which the credentials cover too.
        let prefix = Self.objectPrefix(of: key)
        let credential = Credential(
            secretID: EmulatorConfiguration.randomKey(prefix: "STS.", length: 28),
            secretKey: EmulatorConfiguration.randomKey(prefix: "", length: 30),
            token: "CAIS" + EmulatorConfiguration.randomKey(prefix: "", length: 120),
            expiresAt: now + configuration.credentialLifetime, bucket: configuration.aliyunBucket, keys: [key] + (prefix.map { [$0] } ?? [])
        )
        try database.queue.write { db in
            try alsoWrite(db)
            try credential.insert(db)
        }
        credentials[credential.secretID] = credential
        return credential
    }

    enum CreateOutcome {
        case created(Video, Credential)
        case referenceExists(String)
    }

    func createVideo(_ video: Video, now: Int64) throws -> CreateOutcome {
        if let reference = video.referenceID,
            let existing = try database.queue.read({ db in try Video.filter(Column("referenceID") == reference).fetchOne(db) })
        {
            return .referenceExists(existing.videoID)
        }
        return .created(video, try issueSTS(key: video.objectKey, now: now) { db in try video.insert(db) })
    }

    func createImage(_ image: Image, now: Int64) throws -> Credential {
        try issueSTS(key: image.objectKey, now: now) { db in try image.insert(db) }
    }

    /// Where an m3u8 video's segments go (UploadAddress ObjectPrefix, `sv/<id>/`); nil for other files.
    static func objectPrefix(of key: String) -> String? {
        guard key.lowercased().hasSuffix(".m3u8"), key.hasPrefix("sv/"), let slash = key.lastIndex(of: "/") else { return nil }
        return String(key[...slash])
    }

    /// A video by id, or by ReferenceId; its status as the platform shows it now: `UploadSucc` after
    /// the write, `Transcoding` from half the processing time on, `Normal` once it has passed
    /// (``EmulatorConfiguration/processingDelaySeconds``; the emulator transcodes nothing).
    func video(id: String? = nil, reference: String? = nil, now: Int64 = Int64(Date().timeIntervalSince1970)) -> Video? {
        let found = try? database.queue.read { db -> Video? in
            if let id { return try Video.fetchOne(db, key: id) }
            if let reference { return try Video.filter(Column("referenceID") == reference).fetchOne(db) }
            return nil
        }
        guard var video = found ?? nil else { return nil }
        video.status = Self.status(video.status, uploadedAt: video.uploadedAt, now: now, delay: configuration.processingDelaySeconds)
        return video
    }

    /// The status a video shows `now`: a stored `UploadSucc` moves to `Transcoding` at half the
    /// processing time after the write and to `Normal` at its end; other statuses stay.
    static func status(_ stored: String, uploadedAt: Int64?, now: Int64, delay: Double) -> String {
        guard stored == "UploadSucc", let at = uploadedAt else { return stored }
        let elapsed = Double(now - at)
        if elapsed >= delay { return "Normal" }
        if elapsed * 2 >= delay { return "Transcoding" }
        return stored
    }

    func image(id: String) -> Image? { try? database.queue.read { db in try Image.fetchOne(db, key: id) } }

    func videos() throws -> [Video] {
        try database.queue.read { db in try Video.order(Column("createdAt"), Column("rowid")).fetchAll(db) }
    }

    /// The admin listing of videos, with each source file's MD5 (worked out now for a multipart one).
    func presentedVideos() throws -> [EmulatedVideo] {
        try videos().map { video in
            var shown = EmulatedVideo(video)
            shown.md5 = md5(stored: video.md5, file: video.objectFile)
            return shown
        }
    }

    /// Fresh credentials for a video's object (RefreshUploadVideo): same key, new STS triple.
    func refresh(videoID: String, now: Int64) throws -> (Video, Credential)? {
        guard let video = video(id: videoID) else { return nil }
        return (video, try issueSTS(key: video.objectKey, now: now))
    }

    /// Ends every credential covering this key now (the admin API's expiry fault).
    func expireCredentials(key: String, now: Int64) throws -> Int {
        var count = 0
        for (id, var credential) in credentials where credential.keys.contains(key) {
            credential.expiresAt = now - 1
            credentials[id] = credential
            try database.queue.write { db in try credential.update(db) }
            count += 1
        }
        return count
    }

    /// An OSS write (PutObject or CompleteMultipartUpload): the object is stored, and the video or
    /// image of that key has its mezzanine now, in one transaction.
    func storeOSS(bucket: String, key: String, path: String, size: Int64, md5: String, etag: String, crc64: String, now: Int64) throws {
        try store(bucket: bucket, key: key, path: path, size: size, md5: md5, etag: etag, crc64: crc64) { db in
            try Self.markWritten(db, key: key, path: path, size: size, md5: md5, crc64: crc64, now: now)
        }
    }

    static func markWritten(_ db: Database, key: String, path: String, size: Int64, md5: String, crc64: String, now: Int64) throws {
        try db.execute(
            sql:
                "UPDATE video SET status = 'UploadSucc', uploadedAt = ?, modifiedAt = ?, objectFile = ?, size = ?, md5 = ?, crc64 = ? WHERE objectKey = ?",
            arguments: [now, now, path, size, md5, crc64, key])
        try db.execute(sql: "UPDATE image SET objectFile = ?, size = ?, md5 = ? WHERE objectKey = ?", arguments: [path, size, md5, key])
    }

    /// Deletes videos with their source files; returns the ids that did not exist.
    /// Applies `change` to a video's metadata; false when there is no such video.
    func updateVideo(id: String, now: Int64, _ change: (inout Video) -> Void) throws -> Bool {
        try database.queue.write { db in
            guard var video = try Video.fetchOne(db, key: id) else { return false }
            change(&video)
            video.modifiedAt = now
            try video.update(db)
            return true
        }
    }

    func deleteVideos(_ ids: [String]) throws -> [String] {
        var missing: [String] = []
        for id in ids {
            guard let video = video(id: id) else {
                missing.append(id)
                continue
            }
            let objectID = video.bucket + "/" + video.objectKey
            try database.queue.write { db in
                _ = try Video.deleteOne(db, key: id)
                _ = try StoredObject.deleteOne(db, key: objectID)
            }
            if let object = objects.removeValue(forKey: objectID), !referenced(object.path) {
                try? FileManager.default.removeItem(atPath: object.path)
            }
            counters.deletes += 1
        }
        return missing
    }

    /// Where the bytes of a video's source (`source.<ext>`) or an image (`image.<ext>`) are.
    func aliyunFile(id: String, image: Bool) -> String? {
        image ? self.image(id: id)?.objectFile : video(id: id)?.objectFile
    }
}
