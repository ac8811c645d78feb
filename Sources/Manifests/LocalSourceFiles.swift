import Foundation
import IngestCore

/// The local file system as the engine sees sources: whether a file is still as validated, and its MD5.
public struct LocalSourceFiles: SourceFiles {
    public init() {}

    public func change(of file: FileReference) -> String? {
        switch LocalFileSystem().status(file.resolved, followSymlinks: true) {
        case .failure(let error):
            return "it cannot be read now: \(error)"
        case .success(let status):
            if let size = file.size, status.size != size { return "its size was \(size) bytes and is \(status.size) now" }
            if let modified = file.modified, status.modified != modified {
                return "it was modified at \(ISO8601Timestamp.format(Int64(status.modified))), after validation"
            }
            return nil
        }
    }

    public func digest(of file: FileReference) async throws -> (md5: String, crc64: String) {
        let path = file.resolved
        return try await withCheckedThrowingContinuation { continuation in
            // Off the cooperative threads: this reads the whole file.
            DispatchQueue.global(qos: .utility).async {
                switch FileDigest.compute(path: path, md5: true, sha256: false, crc64: true) {
                case .success(let digests): continuation.resume(returning: (digests.md5 ?? "", digests.crc64.map { String($0) } ?? ""))
                case .failure(let error):
                    continuation.resume(
                        throwing: ProviderError(
                            step: "source", code: "source.unreadable", message: "cannot read \(file.given): \(error)",
                            disposition: .failItem))
                }
            }
        }
    }
}
