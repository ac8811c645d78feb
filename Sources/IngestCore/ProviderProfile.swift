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
    /// `source_context` (Tencent SourceContext; Alibaba UserData.Extend).
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

    public init(
        name: String, displayName: String, metadata: MetadataLimits, parts: PartRules,
        acceptsNameWithoutExtension: Bool, defaultAPIRate: Double, apiCallsPerItem: Int,
        apiCallsPerCover: Int, uploadActions: String
    ) {
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
        uploadActions: "ApplyUpload + CommitUpload")

    /// Alibaba Cloud ApsaraVideo VOD (API 2017-03-21) with OSS.
    ///
    /// CreateUploadVideo: Title ≤ 128, Description ≤ 1024, Tags ≤ 16 × 32 and comma-separated, no
    /// emoji (`IllegalCharacters`); UserData.Extend ≤ 512 bytes; FileName must carry an extension.
    /// OSS parts: 100 KB to 5 GB, at most 10,000. A cover is a CreateUploadImage call of its own.
    public static let aliyun = ProviderProfile(
        name: "aliyun",
        displayName: "Alibaba Cloud ApsaraVideo VOD",
        metadata: MetadataLimits(
            titleMax: 128, descriptionMax: 1024, tagCountMax: 16, tagLengthMax: 32,
            tagForbiddenCharacters: [","], sourceContextMax: 512, sourceContextInBytes: true, customDataMaxBytes: 512,
            forbidsAstralCharacters: true,
            source: "Alibaba VOD CreateUploadVideo"),
        parts: PartRules(
            minimumPartSize: 100 * 1024, maximumPartSize: 5 * gib, maximumParts: 10_000,
            maximumSimpleUpload: 5 * gib),
        acceptsNameWithoutExtension: false,
        defaultAPIRate: 100,
        apiCallsPerItem: 1,
        apiCallsPerCover: 1,
        uploadActions: "CreateUploadVideo (+ CreateUploadImage per cover)")

    /// Every known profile, by `--provider` name. `local` is the Tencent dialect on the emulator.
    public static let all: [String: ProviderProfile] = [
        "tencent": .tencent, "local": .tencent, "aliyun": .aliyun,
    ]

    /// The profile for a `--provider` value, case-insensitive.
    public static func named(_ name: String) -> ProviderProfile? {
        all[name.lowercased()]
    }
}
