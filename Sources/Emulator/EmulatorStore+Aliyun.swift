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

    /// Issues STS credentials for one object key of the Alibaba bucket.
    func issueSTS(key: String, now: Int64) throws -> Credential {
        let credential = Credential(
            secretID: EmulatorConfiguration.randomKey(prefix: "STS.", length: 28),
            secretKey: EmulatorConfiguration.randomKey(prefix: "", length: 30),
            token: "CAIS" + EmulatorConfiguration.randomKey(prefix: "", length: 120),
            expiresAt: now + configuration.credentialLifetime, bucket: configuration.aliyunBucket, keys: [key])
        try database.queue.write { db in try credential.insert(db) }
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
        try database.queue.write { db in try video.insert(db) }
        return .created(video, try issueSTS(key: video.objectKey, now: now))
    }

    func createImage(_ image: Image, now: Int64) throws -> Credential {
        try database.queue.write { db in try image.insert(db) }
        return try issueSTS(key: image.objectKey, now: now)
    }

    /// A video by id, or by ReferenceId; its status as the platform shows it now (`UploadSucc` for
    /// a second after the write, `Normal` from then on: the emulator has no transcoding).
    func video(id: String? = nil, reference: String? = nil, now: Int64 = Int64(Date().timeIntervalSince1970)) -> Video? {
        let found = try? database.queue.read { db -> Video? in
            if let id { return try Video.fetchOne(db, key: id) }
            if let reference { return try Video.filter(Column("referenceID") == reference).fetchOne(db) }
            return nil
        }
        guard var video = found ?? nil else { return nil }
        if video.status == "UploadSucc", let at = video.uploadedAt, now - at >= 1 { video.status = "Normal" }
        return video
    }

    func image(id: String) -> Image? { try? database.queue.read { db in try Image.fetchOne(db, key: id) } }

    func videos() throws -> [Video] {
        try database.queue.read { db in try Video.order(Column("createdAt"), Column("rowid")).fetchAll(db) }
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

    /// An OSS write (PutObject or CompleteMultipartUpload) finished: the video or image of that key
    /// has its mezzanine now.
    func ossWritten(bucket: String, key: String, now: Int64) throws {
        guard bucket == configuration.aliyunBucket, let object = objects[bucket + "/" + key] else { return }
        try database.queue.write { db in
            try db.execute(
                sql: "UPDATE video SET status = 'UploadSucc', uploadedAt = ?, modifiedAt = ?, objectFile = ?, size = ?, md5 = ?, crc64 = ? WHERE objectKey = ?",
                arguments: [now, now, object.path, object.size, object.md5, object.crc64, key])
            try db.execute(
                sql: "UPDATE image SET objectFile = ?, size = ?, md5 = ? WHERE objectKey = ?", arguments: [object.path, object.size, object.md5, key])
        }
    }

    /// Deletes videos with their source files; returns the ids that did not exist.
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
