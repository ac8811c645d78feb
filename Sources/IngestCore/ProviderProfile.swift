/// Metadata limits of one platform, as data (architecture guide, convention 10).
///
/// Lengths are counted in Unicode scalars unless `countsBytes` says UTF-8 bytes.
public struct MetadataLimits: Sendable, Hashable {
    /// Media name / title.
    public var titleMax: Int
    public var descriptionMax: Int
    public var tagCountMax: Int
    public var tagLengthMax: Int
    /// Characters a tag may not contain (the wire format separates tags with them).
    public var tagForbiddenCharacters: Set<Character>
    /// `source_context` (Tencent SourceContext; Alibaba ReferenceId).
    public var sourceContextMax: Int
    /// Whether `sourceContextMax` counts UTF-8 bytes rather than characters.
    public var sourceContextInBytes: Bool
    /// The JSON the `meta.*` columns become (Tencent SessionContext; Alibaba UserData.Extend), in bytes.
    public var customDataMaxBytes: Int
    /// The platform rejects emoji and other 4-byte characters in titles, descriptions and tags.
    public var forbidsAstralCharacters: Bool
    /// Where these numbers come from, shown in messages.
    public var source: String

    public init(
        titleMax: Int, descriptionMax: Int, tagCountMax: Int, tagLengthMax: Int,
        tagForbiddenCharacters: Set<Character>, sourceContextMax: Int, sourceContextInBytes: Bool,
        customDataMaxBytes: Int,
        forbidsAstralCharacters: Bool, source: String
    ) {
        self.titleMax = titleMax
        self.descriptionMax = descriptionMax
        self.tagCountMax = tagCountMax
        self.tagLengthMax = tagLengthMax
        self.tagForbiddenCharacters = tagForbiddenCharacters
        self.sourceContextMax = sourceContextMax
        self.sourceContextInBytes = sourceContextInBytes
        self.customDataMaxBytes = customDataMaxBytes
        self.forbidsAstralCharacters = forbidsAstralCharacters
        self.source = source
    }
}

/// Object-storage part rules (COS / OSS multipart), as data.
public struct PartRules: Sendable, Hashable {
    /// Smallest allowed part except the last.
    public var minimumPartSize: Int64
    public var maximumPartSize: Int64
    public var maximumParts: Int
    /// Largest object a single PUT may carry.
    public var maximumSimpleUpload: Int64

    public init(minimumPartSize: Int64, maximumPartSize: Int64, maximumParts: Int, maximumSimpleUpload: Int64) {
        self.minimumPartSize = minimumPartSize
        self.maximumPartSize = maximumPartSize
        self.maximumParts = maximumParts
        self.maximumSimpleUpload = maximumSimpleUpload
    }
}

/// How a platform gives new credentials to an upload whose credentials expire.
public enum CredentialRenewal: String, Sendable, Hashable {
    /// A fresh session, a new object path, the bytes again (Tencent: ApplyUpload again).
    case newSession
    /// The same session and object with new credentials; a multipart upload goes on (Alibaba RefreshUploadVideo).
    case refreshInPlace
}

/// How a platform takes an item's cover.
public enum CoverUploadMode: String, Sendable, Hashable {
    /// A second object under the media's session and credentials (Tencent CoverType).
    case sameSession
    /// An upload of its own before the media is created, whose URL the media is created with
    /// (Alibaba CreateUploadImage, then CoverURL).
    case ownUpload
}

/// What a row's `storage_region` must look like on a platform.
public enum StorageRegionRule: String, Sendable, Hashable, CustomStringConvertible {
    /// A region name (Tencent StorageRegion: `ap-chongqing`).
    case regionName
    /// An OSS storage location (Alibaba StorageLocation: `outin-<id>.oss-cn-shanghai.aliyuncs.com`).
    case ossStorageLocation

    public func accepts(_ value: String) -> Bool {
        switch self {
        case .regionName: return !value.contains(".")
        case .ossStorageLocation:
            let labels = value.split(separator: ".", omittingEmptySubsequences: false)
            return labels.count == 4 && labels[1].hasPrefix("oss-") && labels[2] == "aliyuncs" && labels[3] == "com" && !labels[0].isEmpty
        }
    }

    public var description: String {
        switch self {
        case .regionName: "a region name such as ap-chongqing"
        case .ossStorageLocation:
            "an Alibaba StorageLocation such as outin-<id>.oss-cn-shanghai.aliyuncs.com (the VOD console lists them; region names such as ap-chongqing are Tencent's)"
        }
    }
}

/// The API actions of the upload flow, by step: for rate limits, counters and plan output.
public struct UploadActions: Sendable, Hashable {
    public var prepare: String
    /// Nil when the cover has no call of its own.
    public var cover: String?
    /// The call that completes (Tencent CommitUpload) or confirms (Alibaba GetMezzanineInfo) an upload.
    public var complete: String
    /// Nil when credentials cannot be refreshed in place.
    public var refresh: String?
    /// Whether ``complete`` commits (a call with a side effect; its lost answer needs a recovery)
    /// or only reads the platform's state (safe to repeat).
    public var completeCommits: Bool
    /// The call that sets, after completion, the fields in ``metadataFields`` (Tencent
    /// ModifyMediaInfo); nil where the upload calls carry every field.
    public var metadata: String?
    /// The manifest fields that go in the ``metadata`` call.
    public var metadataFields: [String]
    /// The call that changes an uploaded media's metadata when its row changed (Tencent
    /// ModifyMediaInfo, Alibaba UpdateVideoInfo): the fields in ``ProviderProfile/updatableFields``.
    public var update: String?
    /// The call that deletes a media (`--delete-replaced`: Tencent DeleteMedia, Alibaba DeleteVideo).
    public var delete: String?

    public init(
        prepare: String, cover: String?, complete: String, refresh: String?, completeCommits: Bool, metadata: String? = nil,
        metadataFields: [String] = [], update: String? = nil, delete: String? = nil
    ) {
        self.update = update
        self.delete = delete
        self.metadata = metadata
        self.metadataFields = metadataFields
        self.prepare = prepare
        self.cover = cover
        self.complete = complete
        self.refresh = refresh
        self.completeCommits = completeCommits
    }
}

/// Everything vendor-specific that validation and planning need: a table row per platform.
public struct ProviderProfile: Sendable, Hashable {
    /// The `--provider` name.
    public var name: String
    public var displayName: String
    public var metadata: MetadataLimits
    public var parts: PartRules
    /// Whether a media file whose name has no extension may be uploaded.
    public var acceptsNameWithoutExtension: Bool
    /// Documented default API rate (requests per second) for the upload actions.
    public var defaultAPIRate: Double
    /// Rate-limited API calls per item for the upload flow, without and with a cover.
    public var apiCallsPerItem: Int
    public var apiCallsPerCover: Int
    /// The upload actions, for plan output.
    public var uploadActions: String
    /// The API actions of each step.
    public var actions: UploadActions
    public var credentialRenewal: CredentialRenewal
    public var coverUpload: CoverUploadMode
    /// What the platform calls a media's id (`FileId`, `VideoId`), for output.
    public var mediaIDName: String
    /// Manifest fields the platform has no parameter for, with the reason: a row that sets one is refused.
    public var unsupportedFields: [String: String] = [:]
    public var storageRegion: StorageRegionRule = .regionName
    /// A file name without an extension is uploaded under its sniffed type (Alibaba's FileName
    /// must carry one), so the type must be known.
    public var needsTypeForNameWithoutExtension = false
    /// Image types the platform takes as a cover (Alibaba CreateUploadImage's ImageExt: png jpg jpeg
    /// gif heic webp; Tencent CoverType: the wider ``MediaRules/coverExtensions``).
    public var coverExtensions: Set<String> = MediaRules.coverExtensions
    /// How long the platform's upload credentials last, seconds, when it does not say per session
    /// (for plans; the engine uses each session's own expiry).
    public var credentialLifetime: Int64 = 1800
    /// `source_context` becomes an id the platform keeps unique (Alibaba ReferenceId:
    /// `[A-Za-z0-9_-]`, 6 to 64 characters), not free text.
    public var sourceContextIsReferenceID = false
    /// Documented default requests per second of each API action: the platform throttles each on
    /// its own, so each gets a budget of its own. Actions not listed go at ``defaultAPIRate``.
    public var actionRates: [String: Double] = [:]
    /// Regions where ``actionRates`` hold; elsewhere ``reducedActionRates`` replace them (nil: everywhere).
    public var fullRateRegions: Set<String>? = nil
    public var reducedActionRates: [String: Double] = [:]
    /// Manifest fields (``RowValues`` names) that ``UploadActions/update`` sets on an uploaded media:
    /// a new delivery that changes only these is `updated` in place; one that changes any other
    /// (the cover, the procedure, the storage region, ...) is `changed` and needs a new upload.
    public var updatableFields: Set<String> = []
    /// The platform's parameter a row's `category` becomes (for messages).
    public var categoryParameter = "ClassId"
    /// How the platform tells what became of an upload (`ingest --wait-events`, `vodingest events`).
    public var processing = ProcessingRules(pullsEvents: false)

    /// The per-action budget in `region` (nil: the platform's default region).
    public func actionRates(region: String?) -> [String: Double] {
        guard let full = fullRateRegions, let region, !full.contains(region) else { return actionRates }
        return actionRates.merging(reducedActionRates) { _, reduced in reduced }
    }

    /// Every API action an ingest calls on this platform (the flow's, and the recovery's lookups: the
    /// keys of ``actionRates``), for `--action-rate` and messages.
    public var knownActions: Set<String> {
        Set(actionRates.keys).union([actions.prepare, actions.complete])
            .union([actions.cover, actions.refresh, actions.metadata, actions.update, actions.delete].compactMap { $0 })
            .union(processing.actions)
    }

    /// Whether `item` sets a field that only the ``UploadActions/metadata`` call carries.
    public func needsMetadataCall(_ item: IngestItem) -> Bool {
        actions.metadata != nil && !MetadataUpdate.afterUpload(item, profile: self).fields.isEmpty
    }

    public init(
        name: String, displayName: String, metadata: MetadataLimits, parts: PartRules,
        acceptsNameWithoutExtension: Bool, defaultAPIRate: Double, apiCallsPerItem: Int,
        apiCallsPerCover: Int, uploadActions: String, actions: UploadActions, credentialRenewal: CredentialRenewal,
        coverUpload: CoverUploadMode, mediaIDName: String, unsupportedFields: [String: String] = [:],
        storageRegion: StorageRegionRule = .regionName, needsTypeForNameWithoutExtension: Bool = false,
        sourceContextIsReferenceID: Bool = false, credentialLifetime: Int64 = 1800,
        coverExtensions: Set<String> = MediaRules.coverExtensions
    ) {
        self.coverExtensions = coverExtensions
        self.credentialLifetime = credentialLifetime
        self.sourceContextIsReferenceID = sourceContextIsReferenceID
        self.mediaIDName = mediaIDName
        self.unsupportedFields = unsupportedFields
        self.storageRegion = storageRegion
        self.needsTypeForNameWithoutExtension = needsTypeForNameWithoutExtension
        self.actions = actions
        self.credentialRenewal = credentialRenewal
        self.coverUpload = coverUpload
        self.name = name
        self.displayName = displayName
        self.metadata = metadata
        self.parts = parts
        self.acceptsNameWithoutExtension = acceptsNameWithoutExtension
        self.defaultAPIRate = defaultAPIRate
        self.apiCallsPerItem = apiCallsPerItem
        self.apiCallsPerCover = apiCallsPerCover
        self.uploadActions = uploadActions
    }
}

extension ProviderProfile {
    private static let mib: Int64 = 1 << 20
    private static let gib: Int64 = 1 << 30

    /// Tencent Cloud VOD (API 2018-07-17) with COS.
    ///
    /// Name ≤ 64 and Description ≤ 128 characters and tags 16 × 32 are ModifyMediaInfo's documented
    /// limits; SourceContext ≤ 250 and SessionContext ≤ 1000 are ApplyUpload's. COS parts: 1 MB to
    /// 5 GB, at most 10,000; a simple PUT carries at most 5 GB. ApplyUpload and CommitUpload: 100/s.
    /// TempCertificate: COS temporary keys last 30 minutes by default, and are never refreshed
    /// within a session.
    public static let tencent = ProviderProfile(
        name: "tencent",
        displayName: "Tencent Cloud VOD",
        metadata: MetadataLimits(
            titleMax: 64, descriptionMax: 128, tagCountMax: 16, tagLengthMax: 32,
            tagForbiddenCharacters: [], sourceContextMax: 250, sourceContextInBytes: false, customDataMaxBytes: 1000,
            forbidsAstralCharacters: false,
            source: "Tencent VOD ApplyUpload/ModifyMediaInfo"),
        parts: PartRules(
            minimumPartSize: mib, maximumPartSize: 5 * gib, maximumParts: 10_000,
            maximumSimpleUpload: 5 * gib),
        acceptsNameWithoutExtension: true,
        defaultAPIRate: 100,
        apiCallsPerItem: 2,
        apiCallsPerCover: 0,
        uploadActions: "ApplyUpload + CommitUpload (+ ModifyMediaInfo for a row with a description or tags)",
        actions: UploadActions(
            prepare: "ApplyUpload", cover: nil, complete: "CommitUpload", refresh: nil, completeCommits: true, metadata: "ModifyMediaInfo",
            metadataFields: ["description", "tags"], update: "ModifyMediaInfo", delete: "DeleteMedia"),
        credentialRenewal: .newSession, coverUpload: .sameSession, mediaIDName: "FileId", credentialLifetime: 1800
    ).with {
        // ApplyUpload and CommitUpload are documented; the others are assumed alike (protocol notes §2.5).
        $0.actionRates = [
            "ApplyUpload": 100, "CommitUpload": 100, "ModifyMediaInfo": 100, "SearchMedia": 100, "DeleteMedia": 100,
        ]
        // ModifyMediaInfo (§3.8) sets Name, Description, ClassId, ExpireTime and the tags; the
        // cover (CoverData), SessionContext, the procedure and the storage region are the upload's.
        $0.updatableFields = ["title", "description", "tags", "category", "expire_time"]
        // The reliable-callback mode (§3.7): events pulled (a 5 s long poll, 16 at most) and confirmed.
        $0.processing = ProcessingRules(pullsEvents: true, pull: "PullEvents", confirm: "ConfirmEvents", confirmBatch: 16)
        $0.actionRates["PullEvents"] = 100
        $0.actionRates["ConfirmEvents"] = 100
    }

    /// Alibaba Cloud ApsaraVideo VOD (API 2017-03-21) with OSS.
    ///
    /// CreateUploadVideo: Title ≤ 128, Description ≤ 1024, Tags ≤ 16 × 32 and comma-separated, no
    /// emoji (`IllegalCharacters`); UserData.Extend ≤ 512 bytes; ReferenceId `[A-Za-z0-9_-]{6,64}`
    /// (a row's source_context); FileName must carry an extension
    /// (a file without one is sent under its sniffed type); no expire time; StorageLocation is an OSS host.
    /// OSS parts: 100 KB to 5 GB, at most 10,000. A cover is a CreateUploadImage call of its own.
    /// There is no commit call: the OSS write completes the upload, and GetMezzanineInfo confirms
    /// it. CreateUploadVideo and RefreshUploadVideo: 80/s (Beijing, Shanghai, Shenzhen, Singapore;
    /// 40/s elsewhere).
    public static let aliyun = ProviderProfile(
        name: "aliyun",
        displayName: "Alibaba Cloud ApsaraVideo VOD",
        metadata: MetadataLimits(
            titleMax: 128, descriptionMax: 1024, tagCountMax: 16, tagLengthMax: 32,
            tagForbiddenCharacters: [","], sourceContextMax: 64, sourceContextInBytes: true, customDataMaxBytes: 512,
            forbidsAstralCharacters: true,
            source: "Alibaba VOD CreateUploadVideo"),
        parts: PartRules(
            minimumPartSize: 100 * 1024, maximumPartSize: 5 * gib, maximumParts: 10_000,
            maximumSimpleUpload: 5 * gib),
        acceptsNameWithoutExtension: true,
        defaultAPIRate: 80,
        apiCallsPerItem: 2,
        apiCallsPerCover: 1,
        uploadActions: "CreateUploadVideo + GetMezzanineInfo (+ CreateUploadImage per cover)",
        actions: UploadActions(
            prepare: "CreateUploadVideo", cover: "CreateUploadImage", complete: "GetMezzanineInfo", refresh: "RefreshUploadVideo",
            completeCommits: false, update: "UpdateVideoInfo", delete: "DeleteVideo"),
        credentialRenewal: .refreshInPlace, coverUpload: .ownUpload, mediaIDName: "VideoId",
        unsupportedFields: ["expire_time": "CreateUploadVideo has no expiry parameter"], storageRegion: .ossStorageLocation,
        needsTypeForNameWithoutExtension: true, sourceContextIsReferenceID: true, credentialLifetime: 3000,
        coverExtensions: ["png", "jpg", "jpeg", "gif", "heic", "webp"]
    ).with {
        // Protocol notes §3.6: CreateUploadVideo and RefreshUploadVideo 80/s in the four large
        // regions, 40/s elsewhere; CreateUploadImage 100/s; the read actions' values were not
        // recoverable, 100/s is assumed.
        $0.actionRates = [
            "CreateUploadVideo": 80, "RefreshUploadVideo": 80, "CreateUploadImage": 100, "GetMezzanineInfo": 100,
            "GetVideoInfo": 100, "UpdateVideoInfo": 100, "DeleteVideo": 100,
        ]
        // UpdateVideoInfo sets Title, Description, Tags, CateId and UserData (meta.* as Extend).
        $0.updatableFields = ["title", "description", "tags", "category", "meta"]
        $0.categoryParameter = "CateId"
        // No pull API (§2.6): each video's status is polled, 20 ids a call, until Normal or a failure.
        $0.processing = ProcessingRules(
            pullsEvents: false, poll: "GetVideoInfos", pollBatch: 20, finishedStatuses: ["Normal"],
            failedStatuses: ["UploadFail", "TranscodeFail", "Blocked"])
        $0.actionRates["GetVideoInfos"] = 100
        $0.fullRateRegions = ["cn-beijing", "cn-shanghai", "cn-shenzhen", "ap-southeast-1"]
        $0.reducedActionRates = ["CreateUploadVideo": 40, "RefreshUploadVideo": 40]
    }

    /// A copy with `change` applied.
    func with(_ change: (inout ProviderProfile) -> Void) -> ProviderProfile {
        var copy = self
        change(&copy)
        return copy
    }

    /// Every known profile, by platform name (the CLI's registry maps `--provider` values to them).
    public static let all: [String: ProviderProfile] = ["tencent": .tencent, "aliyun": .aliyun]

    /// The profile of a platform name, case-insensitive.
    public static func named(_ name: String) -> ProviderProfile? {
        all[name.lowercased()]
    }
}
