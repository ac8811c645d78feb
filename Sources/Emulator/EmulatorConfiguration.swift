import Foundation

/// How the emulator behaves: the account it accepts, its storage, and the knobs tests turn
/// (rate limits, injected faults, credential and session lifetimes, the repeated-commit policy).
public struct EmulatorConfiguration: Sendable, Codable {
    /// What a second CommitUpload of one session key gets (protocol notes §3.3: undocumented).
    public enum CommitPolicy: String, Sendable, Codable, CaseIterable {
        /// The same FileId, MediaUrl and CoverUrl again.
        case idempotent
        /// `InvalidParameterValue.VodSessionKey`.
        case reject
    }

    /// The account's permanent API key (what `TENCENTCLOUD_SECRET_ID/KEY` hold for the real cloud);
    /// random per process unless given.
    public var secretID: String
    public var secretKey: String
    public var appID: Int
    /// The Alibaba account's AccessKey pair (what `ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET` hold for
    /// the real cloud); random per process unless given.
    public var aliyunAccessKeyID: String
    public var aliyunAccessKeySecret: String
    /// The VOD-owned OSS bucket Alibaba videos go to (`outin-<32 hex>`), and its region.
    public var aliyunBucket: String
    public var aliyunRegion: String
    public var bucketName: String
    public var storageRegion: String
    /// Media files, parts and the catalogue.
    public var dataDirectory: String
    /// Lifetime of the TempCertificate ApplyUpload hands out, in seconds.
    public var credentialLifetime: Int64
    /// Lifetime of a VodSessionKey, in seconds.
    public var sessionLifetime: Int64
    public var commitPolicy: CommitPolicy
    /// API requests per second allowed per action; above it `RequestLimitExceeded`. 0: unlimited.
    public var actionRateLimit: Double
    /// Fraction of VOD API calls answered `InternalError` (before doing anything).
    public var apiInternalErrorRate: Double
    /// Fraction of COS requests answered 503 `SlowDown` (before storing anything).
    public var cosSlowDownRate: Double
    /// Fraction of Complete Multipart Upload calls answered 200 with an `<Error>` body.
    public var completeErrorRate: Double
    /// Fraction of COS uploads (PUT Object, Upload Part) whose connection is cut mid-body: half the
    /// body is read, then the connection is closed with no response.
    public var connectionResetRate: Double
    /// How long an empty PullEvents holds the request, seconds (the platform: 5; tests: 0).
    public var eventWaitSeconds: Double
    /// How long processing takes, seconds: a Tencent procedure's FINISH event comes this long after
    /// the commit; an Alibaba video is `Transcoding` from half of it and `Normal` after it.
    public var processingDelaySeconds: Double = 1
    /// How long a pulled event is leased before it can be pulled again unconfirmed, seconds (the platform: 30).
    public var eventLeaseSeconds: Double = 30
    /// Added to every request, in milliseconds.
    public var latencyMilliseconds: Int
    /// Allowed clock skew of X-TC-Timestamp, seconds (Alibaba's RPC and OSS allow 15 minutes).
    public var maximumSkew: Int64

    public init(
        secretID: String = EmulatorConfiguration.randomKey(prefix: "AKID", length: 36),
        secretKey: String = EmulatorConfiguration.randomKey(prefix: "", length: 32),
        aliyunAccessKeyID: String = EmulatorConfiguration.randomKey(prefix: "LTAI", length: 24),
        aliyunAccessKeySecret: String = EmulatorConfiguration.randomKey(prefix: "", length: 30),
        aliyunBucket: String = "outin-7a3f9c2e5b1d4e8fa6c0b9d2e4f1a3c5", aliyunRegion: String = "cn-shanghai",
        appID: Int = 1_500_000_000, bucketName: String = "vodingest", storageRegion: String = "ap-guangzhou",
        dataDirectory: String, credentialLifetime: Int64 = 3600, sessionLifetime: Int64 = 86_400,
        commitPolicy: CommitPolicy = .idempotent, actionRateLimit: Double = 100, apiInternalErrorRate: Double = 0,
        cosSlowDownRate: Double = 0, completeErrorRate: Double = 0, connectionResetRate: Double = 0, eventWaitSeconds: Double = 5,
        latencyMilliseconds: Int = 0, maximumSkew: Int64 = 300
    ) {
        self.secretID = secretID
        self.secretKey = secretKey
        self.appID = appID
        self.aliyunAccessKeyID = aliyunAccessKeyID
        self.aliyunAccessKeySecret = aliyunAccessKeySecret
        self.aliyunBucket = aliyunBucket
        self.aliyunRegion = aliyunRegion
        self.bucketName = bucketName
        self.storageRegion = storageRegion
        self.dataDirectory = dataDirectory
        self.credentialLifetime = credentialLifetime
        self.sessionLifetime = sessionLifetime
        self.commitPolicy = commitPolicy
        self.actionRateLimit = actionRateLimit
        self.apiInternalErrorRate = apiInternalErrorRate
        self.cosSlowDownRate = cosSlowDownRate
        self.completeErrorRate = completeErrorRate
        self.connectionResetRate = connectionResetRate
        self.eventWaitSeconds = eventWaitSeconds
        self.latencyMilliseconds = latencyMilliseconds
        self.maximumSkew = maximumSkew
    }

    /// A fresh random key for this emulator process: no credential is ever written in the source, and
    /// the keys of one run are worthless after it (standalone, they are printed at start).
    public static func randomKey(prefix: String, length: Int) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        var generator = SystemRandomNumberGenerator()
        return prefix + String((0..<(length - prefix.count)).map { _ in alphabet.randomElement(using: &generator)! })
    }

    /// The `StorageLocation` of the Alibaba bucket (`<bucket>.oss-<region>.aliyuncs.com`).
    public var aliyunStorageLocation: String { "\(aliyunBucket).oss-\(aliyunRegion).aliyuncs.com" }

    /// The full bucket name, `<name>-<appid>`.
    public var bucket: String { "\(bucketName)-\(appID)" }
}

/// One committed media, as the admin listing shows it (for audits and tests).
public struct EmulatedMedia: Sendable, Codable, Hashable {
    public var fileID: String
    public var name: String
    public var mediaType: String
    public var size: Int64
    public var md5: String
    public var sourceContext: String?
    public var classID: Int
    public var procedure: String?
    public var storagePath: String
    public var coverPath: String?
    public var coverSize: Int64?
    public var mediaURL: String
    public var coverURL: String?
    public var createTime: String
    public var sessionKey: String
    public var subAppID: Int?
    /// ApplyUpload's SessionContext, StorageRegion and ExpireTime as given.
    public var sessionContext: String?
    public var storageRegion: String?
    public var expireTime: String?
    /// What ModifyMediaInfo set (Description, tags) and when the media last changed.
    public var description: String?
    public var tags: [String]?
    public var updateTime: String?
}

/// One Tencent event not confirmed yet, as the admin listing shows it (`GET /_emulator/events`).
public struct EmulatedEvent: Sendable, Codable, Hashable {
    public var id: Int64
    /// `NewFileUpload`, `ProcedureStateChanged`, `FileDeleted`.
    public var type: String
    public var fileID: String?
    /// Pulled, and its lease not run out.
    public var leased: Bool
    /// Its time has come (a procedure's FINISH waits for the processing time).
    public var available: Bool
}

/// One Alibaba video, as the admin listing shows it (`GET /_emulator/videos`).
public struct EmulatedVideo: Sendable, Codable, Hashable {
    public var videoID: String
    public var title: String
    public var fileName: String
    public var description: String?
    public var coverURL: String?
    public var cateID: Int64?
    public var tags: String?
    public var templateGroupID: String?
    public var workflowID: String?
    public var storageLocation: String
    public var appID: String
    public var userData: String?
    public var referenceID: String?
    public var objectKey: String
    /// `Uploading` until the OSS write, then `UploadSucc`.
    public var status: String
    public var size: Int64?
    public var md5: String?
    public var crc64: String?
    public var createdAt: Int64

    init(_ v: EmulatorDatabase.Video) {
        videoID = v.videoID
        title = v.title
        fileName = v.fileName
        description = v.videoDescription
        coverURL = v.coverURL
        cateID = v.cateID
        tags = v.tags
        templateGroupID = v.templateGroupID
        workflowID = v.workflowID
        storageLocation = v.storageLocation
        appID = v.appID
        userData = v.userData
        referenceID = v.referenceID
        objectKey = v.objectKey
        status = v.status
        size = v.size
        md5 = v.md5
        crc64 = v.crc64
        createdAt = v.createdAt
    }
}

/// Counters, for the admin API and tests.
public struct EmulatorCounters: Sendable, Codable, Hashable {
    public var apiCalls: [String: Int] = [:]
    public var apiErrors: [String: Int] = [:]
    public var cosRequests: [String: Int] = [:]
    public var cosErrors: [String: Int] = [:]
    public var commits = 0
    public var repeatedCommits = 0
    public var deletes = 0
    /// Connections cut mid-body by the `connectionResetRate` fault.
    public var connectionResets = 0
    public var bytesReceived: Int64 = 0
}
