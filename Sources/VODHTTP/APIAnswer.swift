import Foundation
import IngestCore

/// A successful answer of a VOD API call (Tencent's `Response` object, Alibaba's JSON body) and
/// its request id: the JSON object as decoded, read by key.
public struct APIAnswer: @unchecked Sendable {
    public let response: [String: Any]
    public let requestID: String

    public init(response: [String: Any], requestID: String) {
        self.response = response
        self.requestID = requestID
    }

    public func string(_ key: String) -> String? { response[key] as? String }
}

extension FileReference {
    /// The file's size: the validated one, else read from the file system.
    /// - Throws: ``ProviderError`` `file.unreadable` (fail the item) when it cannot be read.
    public func byteCount(step: String) throws -> Int64 {
        if let size { return size }
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: resolved),
            let s = (attributes[.size] as? NSNumber)?.int64Value
        else {
            throw ProviderError(step: step, code: "file.unreadable", message: "cannot read the size of \(resolved)", disposition: .failItem)
        }
        return s
    }
}
