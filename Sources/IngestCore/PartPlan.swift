/// How one file travels to object storage: one PUT, or a multipart upload of `partCount` parts.
public struct PartPlan: Sendable, Hashable {
    public enum Mode: String, Sendable, Hashable, Codable {
        case simple
        case multipart
    }

    public var mode: Mode
    public var size: Int64
    /// The size of every part but the last (the whole size for a simple upload).
    public var partSize: Int64
    public var partCount: Int

    /// Plans the upload of `size` bytes.
    ///
    /// A file no larger than `preferredPartSize` (and the platform's simple-upload maximum) goes in
    /// one PUT. Anything larger is multipart with `preferredPartSize` parts, raised (to a whole MiB)
    /// when the file would otherwise need more than `rules.maximumParts` parts, and clamped to the
    /// platform's part-size bounds.
    public init(size: Int64, preferredPartSize: Int64, rules: PartRules) {
        self.size = size
        let preferred = min(max(preferredPartSize, rules.minimumPartSize), rules.maximumPartSize)
        if size <= preferred, size <= rules.maximumSimpleUpload {
            mode = .simple
            partSize = size
            partCount = 1
            return
        }
        mode = .multipart
        var part = preferred
        let maxParts = Int64(rules.maximumParts)
        if (size + part - 1) / part > maxParts {
            let needed = (size + maxParts - 1) / maxParts
            let mib: Int64 = 1 << 20
            part = min(((needed + mib - 1) / mib) * mib, rules.maximumPartSize)
        }
        partSize = part
        partCount = Int((size + part - 1) / part)
    }

    /// Bytes in part `number` (1-based): `partSize`, less for the last.
    public func length(ofPart number: Int) -> Int64 {
        min(partSize, size - Int64(number - 1) * partSize)
    }

    /// Object-storage requests this upload takes: 1 PUT, or initiate + parts + complete.
    public var storageRequests: Int { mode == .simple ? 1 : partCount + 2 }
}
