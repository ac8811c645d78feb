import Foundation
import GRDB

/// The emulator's durable state, one SQLite database (`emulator.sqlite` in the data directory, WAL,
/// owner-only): what the cloud would still know after a restart. Issued credentials and sessions (so
/// a client killed mid-run can resume with them), stored objects, unfinished multipart uploads and
/// their parts, the media catalogue, and the event queue of PullEvents.
///
/// `EmulatorStore` keeps the hot tables (credentials, sessions, objects, uploads) in memory as well
/// and writes through; media and events are only here, and are queried with SQL.
struct EmulatorDatabase {
    let queue: DatabaseQueue

    struct Credential: Codable, FetchableRecord, PersistableRecord {
        static let databaseTableName = "credential"
        var secretID: String
        var secretKey: String
        var token: String
        var expiresAt: Int64
        var bucket: String
        /// The object keys it may write; one ending in `/` covers every key under it (an HLS package's folder).
        var keys: [String]

        static func covers(_ scope: Set<String>, _ key: String) -> Bool {
            scope.contains(key) || scope.contains { $0.hasSuffix("/") && key.hasPrefix($0) && !key.dropFirst($0.count).contains("..") }
        }
    }

    struct Session: Codable, FetchableRecord, PersistableRecord {
        static let databaseTableName = "session"
        var key: String
        var mediaKey: String
        var coverKey: String?
        var mediaType: String
        var name: String
        var sourceContext: String?
        var sessionContext: String?
        var classID: Int
        var procedure: String?
        var createdAt: Int64
        var subAppID: Int?
        /// Set once committed: the FileId a repeated CommitUpload gets again.
        var fileID: String?
        /// ApplyUpload's StorageRegion and ExpireTime as given (v3).
        var storageRegion: String? = nil
        var expireTime: String? = nil
    }

    struct StoredObject: Codable, FetchableRecord, PersistableRecord {
        static let databaseTableName = "object"
        /// `bucket/key`.
        var id: String
        var path: String
        var size: Int64
        var md5: String
        var etag: String
        /// CRC-64/ECMA, decimal; nil for objects stored before v2.
        var crc64: String?
    }

    struct Upload: Codable, FetchableRecord, PersistableRecord {
        static let databaseTableName = "upload"
        var uploadID: String
        var bucket: String
        var key: String
        var initiated: Int64
    }

    struct Part: Codable, FetchableRecord, PersistableRecord {
        static let databaseTableName = "part"
        var uploadID: String
        var number: Int
        var path: String
        var size: Int64
        var md5: String
        /// CRC-64/ECMA of the part, decimal (OSS `x-oss-hash-crc64ecma`); nil for parts stored before v2.
        var crc64: String?
    }

    /// One committed media. URLs are kept as paths and given the emulator's current address when
    /// read, so an embedded emulator on a new port still serves what an earlier run committed.
    struct Media: Codable, FetchableRecord, PersistableRecord {
        static let databaseTableName = "media"
        var fileID: String
        var name: String
        var mediaType: String
        var size: Int64
        var md5: String
        var sourceContext: String?
        var sessionContext: String?
        var classID: Int
        var procedure: String?
        var storagePath: String
        var coverPath: String?
        var coverSize: Int64?
        var mediaPath: String
        var coverURLPath: String?
        var createdAt: Int64
        var sessionKey: String
        var subAppID: Int?
        var objectFile: String
        var coverFile: String?
        /// ApplyUpload's StorageRegion and ExpireTime as given (v3).
        var storageRegion: String? = nil
        var expireTime: String? = nil
        /// ModifyMediaInfo's Description, the tags as a JSON array, and when it last changed (v3).
        var mediaDescription: String? = nil
        var tags: String? = nil
        var updatedAt: Int64? = nil
        /// The task the procedure runs as (ProcedureTaskId), when one was set (v4).
        var procedureTaskID: String? = nil
    }

    struct Event: Codable, FetchableRecord, PersistableRecord {
        static let databaseTableName = "event"
        var id: Int64?
        var subAppID: Int?
        var content: String
        var handle: String?
        var leaseUntil: Int64?
        var createdAt: Int64
        /// Not handed out before this (a procedure's events come after its processing time; v4).
        var availableAt: Int64? = nil
    }

    /// An Alibaba video (CreateUploadVideo): known from its creation on, with the object key its
    /// STS credentials cover; the OSS write of that key moves it from `Uploading` to `UploadSucc`.
    struct Video: Codable, FetchableRecord, PersistableRecord {
        static let databaseTableName = "video"
        var videoID: String
        var title: String
        var fileName: String
        var fileSize: Int64?
        var videoDescription: String?
        var coverURL: String?
        var cateID: Int64?
        var tags: String?
        var templateGroupID: String?
        var workflowID: String?
        var storageLocation: String
        var appID: String
        var userData: String?
        var referenceID: String?
        var bucket: String
        var objectKey: String
        var status: String
        var createdAt: Int64
        var modifiedAt: Int64
        /// Set by the OSS write.
        var uploadedAt: Int64?
        var objectFile: String?
        var size: Int64?
        var md5: String?
        var crc64: String?
    }

    /// An Alibaba image (CreateUploadImage), such as a video's cover.
    struct Image: Codable, FetchableRecord, PersistableRecord {
        static let databaseTableName = "image"
        var imageID: String
        var imageType: String
        var ext: String
        var title: String?
        var bucket: String
        var objectKey: String
        var createdAt: Int64
        var objectFile: String?
        var size: Int64?
        var md5: String?
    }

    init(path: String) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        configuration.prepareDatabase { db in
            // Process crashes never lose a committed transaction in WAL mode with NORMAL sync; only a
            // power cut can, and this is an emulator.
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        let existed = FileManager.default.fileExists(atPath: path)
        queue = try DatabaseQueue(path: path, configuration: configuration)
        if !existed { chmod(path, 0o600) }
        try queue.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA journal_mode = WAL") }
        try Self.migrator.migrate(queue)
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: credentials, sessions, objects, uploads, media, events") { db in
            try db.create(table: "credential") { t in
                t.primaryKey("secretID", .text)
                t.column("secretKey", .text).notNull()
                t.column("token", .text).notNull()
                t.column("expiresAt", .integer).notNull()
                t.column("bucket", .text).notNull()
                t.column("keys", .text).notNull()
            }
            try db.create(table: "session") { t in
                t.primaryKey("key", .text)
                t.column("mediaKey", .text).notNull()
                t.column("coverKey", .text)
                t.column("mediaType", .text).notNull()
                t.column("name", .text).notNull()
                t.column("sourceContext", .text)
                t.column("sessionContext", .text)
                t.column("classID", .integer).notNull()
                t.column("procedure", .text)
                t.column("createdAt", .integer).notNull()
                t.column("subAppID", .integer)
                t.column("fileID", .text)
            }
            try db.create(table: "object") { t in
                t.primaryKey("id", .text)
                t.column("path", .text).notNull()
                t.column("size", .integer).notNull()
                t.column("md5", .text).notNull()
                t.column("etag", .text).notNull()
            }
            try db.create(table: "upload") { t in
                t.primaryKey("uploadID", .text)
                t.column("bucket", .text).notNull()
                t.column("key", .text).notNull()
                t.column("initiated", .integer).notNull()
            }
            try db.create(table: "part") { t in
                t.column("uploadID", .text).notNull().references("upload", onDelete: .cascade)
                t.column("number", .integer).notNull()
                t.column("path", .text).notNull()
                t.column("size", .integer).notNull()
                t.column("md5", .text).notNull()
                t.primaryKey(["uploadID", "number"])
            }
            try db.create(table: "media") { t in
                t.primaryKey("fileID", .text)
                t.column("name", .text).notNull().indexed()
                t.column("mediaType", .text).notNull()
                t.column("size", .integer).notNull()
                t.column("md5", .text).notNull()
                t.column("sourceContext", .text)
                t.column("sessionContext", .text)
                t.column("classID", .integer).notNull()
                t.column("procedure", .text)
                t.column("storagePath", .text).notNull()
                t.column("coverPath", .text)
                t.column("coverSize", .integer)
                t.column("mediaPath", .text).notNull()
                t.column("coverURLPath", .text)
                t.column("createdAt", .integer).notNull().indexed()
                t.column("sessionKey", .text).notNull()
                t.column("subAppID", .integer)
                t.column("objectFile", .text).notNull()
                t.column("coverFile", .text)
            }
            try db.create(table: "event") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("subAppID", .integer)
                t.column("content", .text).notNull()
                t.column("handle", .text).indexed()
                t.column("leaseUntil", .integer)
                t.column("createdAt", .integer).notNull()
            }
        }
        migrator.registerMigration("v2: the Alibaba dialect's videos and images, part CRC-64") { db in
            try db.alter(table: "part") { t in t.add(column: "crc64", .text) }
            try db.alter(table: "object") { t in t.add(column: "crc64", .text) }
            try db.create(table: "video") { t in
                t.primaryKey("videoID", .text)
                t.column("title", .text).notNull()
                t.column("fileName", .text).notNull()
                t.column("fileSize", .integer)
                t.column("videoDescription", .text)
                t.column("coverURL", .text)
                t.column("cateID", .integer)
                t.column("tags", .text)
                t.column("templateGroupID", .text)
                t.column("workflowID", .text)
                t.column("storageLocation", .text).notNull()
                t.column("appID", .text).notNull()
                t.column("userData", .text)
                t.column("referenceID", .text).unique()
                t.column("bucket", .text).notNull()
                t.column("objectKey", .text).notNull().indexed()
                t.column("status", .text).notNull()
                t.column("createdAt", .integer).notNull()
                t.column("modifiedAt", .integer).notNull()
                t.column("uploadedAt", .integer)
                t.column("objectFile", .text)
                t.column("size", .integer)
                t.column("md5", .text)
                t.column("crc64", .text)
            }
            try db.create(table: "image") { t in
                t.primaryKey("imageID", .text)
                t.column("imageType", .text).notNull()
                t.column("ext", .text).notNull()
                t.column("title", .text)
                t.column("bucket", .text).notNull()
                t.column("objectKey", .text).notNull().indexed()
                t.column("createdAt", .integer).notNull()
                t.column("objectFile", .text)
                t.column("size", .integer)
                t.column("md5", .text)
            }
        }
        migrator.registerMigration("v3: ApplyUpload's StorageRegion and ExpireTime, kept") { db in
            for table in ["session", "media"] {
                try db.alter(table: table) { t in
                    t.add(column: "storageRegion", .text)
                    t.add(column: "expireTime", .text)
                }
            }
            try db.alter(table: "media") { t in
                t.add(column: "mediaDescription", .text)
                t.add(column: "tags", .text)
                t.add(column: "updatedAt", .integer)
            }
        }
        migrator.registerMigration("v4: processing: events that come later, the procedure's task") { db in
            try db.alter(table: "event") { t in t.add(column: "availableAt", .integer) }
            try db.alter(table: "media") { t in t.add(column: "procedureTaskID", .text) }
        }
        return migrator
    }
}
