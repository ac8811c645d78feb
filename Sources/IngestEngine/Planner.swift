import IngestCore

/// Settings of a plan (`vodingest plan` options).
public struct PlanOptions: Sendable, Hashable {
    public var profile: ProviderProfile
    /// Files in flight at once.
    public var concurrency: Int
    /// A cap on API requests per second of all actions together (`--api-rate`); nil: none.
    public var apiRate: Double?
    /// Each action's budget (the profile's documented rates unless overridden), as the run uses them.
    public var actionRates: [String: Double]
    /// Upload bandwidth in bytes per second; `nil` assumes ``PlanOptions/assumedBandwidth``.
    public var bandwidth: Double?
    /// Preferred multipart part size.
    public var partSize: Int64

    /// 1 Gbit/s, the assumption when no `--bandwidth` is given.
    public static let assumedBandwidth = 125_000_000.0
    /// Default part size (see README "Part size").
    public static let defaultPartSize: Int64 = 16 << 20

    public init(
        profile: ProviderProfile, concurrency: Int = 8, apiRate: Double? = nil, actionRates: [String: Double]? = nil,
        bandwidth: Double? = nil, partSize: Int64 = PlanOptions.defaultPartSize
    ) {
        self.profile = profile
        self.concurrency = concurrency
        self.apiRate = apiRate
        self.actionRates = actionRates ?? profile.actionRates(region: nil)
        self.bandwidth = bandwidth
        self.partSize = partSize
    }
}

/// Accumulates valid items into a ``Plan`` in constant memory: feed it rows as they stream by.
public struct Planner: Sendable {
    public let options: PlanOptions
    private var items = 0
    private var invalid = 0
    private var rows = 0
    private var mediaBytes: Int64 = 0
    private var coverBytes: Int64 = 0
    private var covers = 0
    /// Items that need the metadata call after the commit (Tencent ModifyMediaInfo).
    private var metadataCalls = 0
    private var unknownSizes = 0
    private var largest: Plan.Largest?
    private var simple = 0
    private var multipart = 0
    private var parts = 0
    private var storageRequests = 0
    private var atRisk = 0
    private var riskExamples: [Plan.Largest] = []
    /// Rows a state directory's journal knows (`plan --state-dir`), nil without one.
    private var delta: Plan.Delta?
    /// Update calls (ModifyMediaInfo, UpdateVideoInfo) of rows whose new delivery changed fields the media takes in place.
    private var updateCalls = 0
    /// Delete calls of replaced media (`--delete-replaced`).
    private var deleteCalls = 0
    /// Files of HLS packages (each a PUT; their bytes are in the media bytes).
    private var segmentFiles = 0

    public init(options: PlanOptions) { self.options = options }

    /// Counts a valid row as the journal of a state directory says it stands: committed and the
    /// same (nothing to do), delivered again with differences (updated in place, replaced when
    /// `replaceChanged`, else reported changed), or to upload (``add(_:)``).
    public mutating func add(_ item: IngestItem, known: Registration?, replaceChanged: Bool, deleteReplaced: Bool) {
        var d = delta ?? Plan.Delta()
        d.replaceChanged = replaceChanged
        d.deleteReplaced = deleteReplaced
        defer { delta = d }
        switch known {
        case nil:
            d.new += 1
        case .start:
            d.retried += 1
        case .replacement:
            d.retried += 1
            if deleteReplaced { deleteCalls += 1 }
        case .inFlight:
            d.resumed += 1
        case .committed, .duplicate:
            d.unchanged += 1
            rows += 1
            return
        case .revised(_, _, let committed):
            let revision = Revision.between(committed, item, profile: options.profile)
            if revision.contentChange != nil || !revision.fixed.isEmpty {
                d.changed += 1
                if !replaceChanged {
                    rows += 1
                    return
                }
                if deleteReplaced { deleteCalls += 1 }
            } else if !revision.updatable.isEmpty {
                d.updated += 1
                updateCalls += 1
                if revision.timeOnly { d.toCheck += 1 }
                rows += 1
                return
            } else {
                d.toCheck += 1
                rows += 1
                return
            }
        }
        add(item)
    }

    /// Counts an invalid row (left out of the run).
    public mutating func addInvalid() {
        rows += 1
        invalid += 1
    }

    /// Counts a valid item.
    public mutating func add(_ item: IngestItem) {
        if options.profile.needsMetadataCall(item) { metadataCalls += 1 }
        rows += 1
        items += 1
        if let size = item.media.size {
            mediaBytes += size
            count(PartPlan(size: size, preferredPartSize: options.partSize, rules: options.profile.parts))
            let entry = Plan.Largest(
                manifest: item.location.manifest, line: item.location.line, id: item.id, path: item.media.given, size: size)
            if size > (largest?.size ?? -1) { largest = entry }
            if options.profile.credentialRenewal == .newSession, Double(size) / fileBandwidth > Double(options.profile.credentialLifetime) {
                atRisk += 1
                riskExamples.append(entry)
                riskExamples.sort { $0.size > $1.size }
                if riskExamples.count > 10 { riskExamples.removeLast() }
            }
        } else {
            unknownSizes += 1
            simple += 1
            storageRequests += 1
        }
        for segment in item.segments ?? [] {
            // One PUT each (validation keeps them within a simple upload).
            segmentFiles += 1
            mediaBytes += segment.file.size ?? 0
            simple += 1
            storageRequests += 1
        }
        if let cover = item.cover {
            covers += 1
            let size = cover.size ?? 0
            coverBytes += size
            count(PartPlan(size: size, preferredPartSize: options.partSize, rules: options.profile.parts))
        }
    }

    /// One file's share of the bandwidth while `concurrency` files are in flight.
    var fileBandwidth: Double { (options.bandwidth ?? PlanOptions.assumedBandwidth) / Double(max(1, options.concurrency)) }

    private mutating func count(_ part: PartPlan) {
        storageRequests += part.storageRequests
        if part.mode == .simple {
            simple += 1
        } else {
            multipart += 1
            parts += part.partCount
        }
    }

    /// The plan for what was added.
    public func finish(manifests: [String]) -> Plan {
        let apiCalls =
            items * options.profile.apiCallsPerItem + covers * options.profile.apiCallsPerCover + metadataCalls + updateCalls + deleteCalls
        let bandwidth = options.bandwidth ?? PlanOptions.assumedBandwidth
        let bytes = mediaBytes + coverBytes
        let bandwidthSeconds = Double(bytes) / bandwidth
        // Each action at its own budget, at the same time; the cap over all of them on top.
        let actions = options.profile.actions
        var callsByAction = [actions.prepare: items]
        callsByAction[actions.complete, default: 0] += items
        if let cover = actions.cover { callsByAction[cover, default: 0] += covers * options.profile.apiCallsPerCover }
        if let metadata = actions.metadata { callsByAction[metadata, default: 0] += metadataCalls }
        if let update = actions.update { callsByAction[update, default: 0] += updateCalls }
        if let delete = actions.delete { callsByAction[delete, default: 0] += deleteCalls }
        let perAction = callsByAction.map { Double($0.value) / (options.actionRates[$0.key] ?? options.profile.defaultAPIRate) }.max() ?? 0
        let aggregate = perAction > 0 ? Double(apiCalls) / perAction : options.profile.defaultAPIRate
        let apiRate = min(aggregate, options.apiRate ?? .infinity)
        let apiSeconds = Double(apiCalls) / apiRate
        let estimate = Plan.Estimate(
            bottleneck: apiSeconds > bandwidthSeconds ? "api-rate" : "bandwidth",
            seconds: max(apiSeconds, bandwidthSeconds), bandwidthSeconds: bandwidthSeconds, apiSeconds: apiSeconds)
        return Plan(
            provider: options.profile.name, manifests: manifests, rows: rows, items: items, invalid: invalid,
            bytes: bytes, mediaBytes: mediaBytes, covers: covers, coverBytes: coverBytes, unknownSizes: unknownSizes,
            largest: largest, simpleUploads: simple, multipartUploads: multipart, parts: parts,
            partSize: options.partSize, apiCalls: apiCalls, storageRequests: storageRequests,
            concurrency: options.concurrency, apiRate: apiRate, bandwidth: bandwidth,
            bandwidthAssumed: options.bandwidth == nil, estimate: estimate,
            credentialRisk: atRisk == 0
                ? nil : Plan.CredentialRisk(lifetimeSeconds: options.profile.credentialLifetime, count: atRisk, examples: riskExamples),
            delta: delta, packageFiles: segmentFiles)
    }
}
