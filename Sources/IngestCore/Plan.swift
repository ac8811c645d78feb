/// What a run will do and cost, computed before any byte is sent.
public struct Plan: Sendable, Hashable, Codable {
    /// The largest media file of the run.
    public struct Largest: Sendable, Hashable, Codable {
        public var manifest: String
        public var line: Int
        public var id: String
        public var path: String
        public var size: Int64

        public init(manifest: String, line: Int, id: String, path: String, size: Int64) {
            self.manifest = manifest
            self.line = line
            self.id = id
            self.path = path
            self.size = size
        }
    }

    /// The estimate and what limits it.
    public struct Estimate: Sendable, Hashable, Codable {
        /// `bandwidth` or `api-rate`: which limit the run will sit on.
        public var bottleneck: String
        public var seconds: Double
        public var bandwidthSeconds: Double
        public var apiSeconds: Double

        public init(bottleneck: String, seconds: Double, bandwidthSeconds: Double, apiSeconds: Double) {
            self.bottleneck = bottleneck
            self.seconds = seconds
            self.bandwidthSeconds = bandwidthSeconds
            self.apiSeconds = apiSeconds
        }
    }

    public var provider: String
    public var manifests: [String]
    public var rows: Int
    /// Items that will be uploaded.
    public var items: Int
    /// Rows left out because they are invalid.
    public var invalid: Int
    /// Bytes of media plus covers.
    public var bytes: Int64
    public var mediaBytes: Int64
    public var covers: Int
    public var coverBytes: Int64
    /// Items whose size is unknown (file checks skipped); their bytes are not in the totals.
    public var unknownSizes: Int
    public var largest: Largest?
    public var simpleUploads: Int
    public var multipartUploads: Int
    /// Parts over all multipart uploads.
    public var parts: Int
    public var partSize: Int64
    /// Rate-limited VOD API calls (ApplyUpload + CommitUpload for Tencent).
    public var apiCalls: Int
    /// Object-storage requests (PUT, or initiate + parts + complete).
    public var storageRequests: Int
    public var concurrency: Int
    public var apiRate: Double
    public var bandwidth: Double
    /// True when `bandwidth` is the default assumption rather than the user's `--bandwidth`.
    public var bandwidthAssumed: Bool
    public var estimate: Estimate
    /// Files whose transfer, at their share of the bandwidth (bandwidth / concurrency), takes
    /// longer than the platform's upload credentials last, on a platform that cannot refresh them
    /// in place (Tencent: such a file starts over with a new session). Nil when there are none.
    public var credentialRisk: CredentialRisk?
    /// How the rows stand against a state directory's journal (`plan --state-dir`); nil without one.
    public var delta: Delta?
    /// Files of HLS packages besides their top playlists (segments, variant playlists): one PUT
    /// each, counted in the single PUTs, the requests and the media bytes.
    public var packageFiles = 0

    /// Rows against what a state directory committed before (the nightly delta), before anything moves.
    public struct Delta: Sendable, Hashable, Codable {
        /// Not in the journal: uploaded.
        public var new = 0
        /// Failed, invalid or not attempted before: uploaded.
        public var retried = 0
        /// Left in flight by an earlier run: finished.
        public var resumed = 0
        /// Committed (or skipped as a duplicate) and delivered the same: nothing to do.
        public var unchanged = 0
        /// Committed, delivered with changed fields the media takes in place: one update call each.
        public var updated = 0
        /// Committed, delivered with a different file or with fields only an upload carries:
        /// uploaded anew with `--replace-changed` (counted in the upload totals then), else reported.
        public var changed = 0
        /// Committed, delivered with only a new modification time: the file is read to compare its checksum.
        public var toCheck = 0
        /// Whether ``changed`` rows are uploaded anew (`--replace-changed`), and their old media deleted.
        public var replaceChanged = false
        public var deleteReplaced = false

        public init() {}
    }

    /// Files at risk of outliving their upload credentials.
    public struct CredentialRisk: Sendable, Hashable, Codable {
        /// The credentials' lifetime the plan assumes, seconds (the platform's documented default).
        public var lifetimeSeconds: Int64
        public var count: Int
        /// The first few, largest first.
        public var examples: [Largest]

        public init(lifetimeSeconds: Int64, count: Int, examples: [Largest]) {
            self.lifetimeSeconds = lifetimeSeconds
            self.count = count
            self.examples = examples
        }
    }

    public init(
        provider: String, manifests: [String], rows: Int, items: Int, invalid: Int, bytes: Int64,
        mediaBytes: Int64, covers: Int, coverBytes: Int64, unknownSizes: Int, largest: Largest?,
        simpleUploads: Int, multipartUploads: Int, parts: Int, partSize: Int64, apiCalls: Int,
        storageRequests: Int, concurrency: Int, apiRate: Double, bandwidth: Double,
        bandwidthAssumed: Bool, estimate: Estimate, credentialRisk: CredentialRisk? = nil, delta: Delta? = nil, packageFiles: Int = 0
    ) {
        self.packageFiles = packageFiles
        self.delta = delta
        self.credentialRisk = credentialRisk
        self.provider = provider
        self.manifests = manifests
        self.rows = rows
        self.items = items
        self.invalid = invalid
        self.bytes = bytes
        self.mediaBytes = mediaBytes
        self.covers = covers
        self.coverBytes = coverBytes
        self.unknownSizes = unknownSizes
        self.largest = largest
        self.simpleUploads = simpleUploads
        self.multipartUploads = multipartUploads
        self.parts = parts
        self.partSize = partSize
        self.apiCalls = apiCalls
        self.storageRequests = storageRequests
        self.concurrency = concurrency
        self.apiRate = apiRate
        self.bandwidth = bandwidth
        self.bandwidthAssumed = bandwidthAssumed
        self.estimate = estimate
    }
}

/// Renders seconds as `2h 03m 10s`, `4m 05s`, `12.3s`.
public func formatDuration(_ seconds: Double) -> String {
    guard seconds.isFinite else { return "unknown" }
    if seconds < 60 { return seconds < 10 ? "\((seconds * 10).rounded() / 10)s" : "\(Int(seconds.rounded()))s" }
    let total = Int(seconds.rounded())
    let h = total / 3600
    let m = (total % 3600) / 60
    let s = total % 60
    func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
    if h > 0 { return "\(h)h \(two(m))m \(two(s))s" }
    return "\(m)m \(two(s))s"
}
