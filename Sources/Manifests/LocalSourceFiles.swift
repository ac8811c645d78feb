import Foundation
import IngestCore

/// The local file system as the engine sees sources: whether a file is still as validated, and its MD5.
public struct LocalSourceFiles: SourceFiles {
    public init() {}

    public func change(of file: FileReference) -> SourceChange? {
        switch LocalFileSystem().status(file.resolved, followSymlinks: true) {
        case .failure(let error) where error.code == ENOENT || error.code == ENOTDIR:
            return SourceChange(.missing, "it is not at \(file.resolved) any more (deleted or moved)")
        case .failure(let error):
            return SourceChange(.unreadable, "it cannot be examined now (\(error))")
        case .success(let status):
            if status.kind != .regular { return SourceChange(.replaced, "it is a \(status.kind.rawValue) now, not a file") }
            if let identity = file.identity, identity != FileIdentity(device: status.device, inode: status.inode) {
                return SourceChange(.replaced, "another file took its name (\(identity) was validated, it is inode \(status.inode) now)")
            }
            if let size = file.size, status.size != size {
                return SourceChange(.modified, "its size was \(size) bytes and is \(status.size) now")
            }
            if let modified = file.modified, status.modified != modified {
                return SourceChange(.modified, "it was modified at \(ISO8601Timestamp.format(Int64(status.modified))), after validation")
            }
            if access(file.resolved, R_OK) != 0 {
                return SourceChange(.unreadable, "it cannot be read now (\(Errno(errno)))")
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
