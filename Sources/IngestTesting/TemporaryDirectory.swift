import Foundation
import IngestCore
import Manifests

/// A fresh directory under the system temporary folder, removed by ``remove()``.
public struct TemporaryDirectory: Sendable {
    public let path: String

    public init(_ prefix: String = "vodingest-test") throws {
        let base = NSTemporaryDirectory() + "/\(prefix)-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        // Resolve /tmp symlinks so expected paths compare equal to realpath results.
        path = PathNormalizer.normalize((try? LocalFileSystem().realPath(base).get()) ?? base)
    }

    /// Writes `bytes` to `relative`, creating folders. Returns the absolute path.
    @discardableResult
    public func write(_ relative: String, bytes: [UInt8]) throws -> String {
        let full = path + "/" + relative
        try FileManager.default.createDirectory(
            atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        guard FileManager.default.createFile(atPath: full, contents: Data(bytes)) else {
            throw CocoaError(.fileWriteUnknown)
        }
        return full
    }

    @discardableResult
    public func write(_ relative: String, _ text: String) throws -> String {
        try write(relative, bytes: Array(text.utf8))
    }

    /// Creates a symlink at `relative` pointing to `target` (verbatim).
    public func symlink(_ relative: String, to target: String) throws {
        let full = path + "/" + relative
        try FileManager.default.createDirectory(
            atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: full, withDestinationPath: target)
    }

    public func mkdir(_ relative: String) throws {
        try FileManager.default.createDirectory(atPath: path + "/" + relative, withIntermediateDirectories: true)
    }

    public func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// Minimal but real media headers for tests (what the sniffer looks at).
public enum MediaBytes {
    /// An ISO BMFF `ftyp` box followed by padding: what an MP4 starts with.
    public static let mp4: [UInt8] =
        [0, 0, 0, 0x18] + Array("ftypisom".utf8) + [0, 0, 2, 0] + Array("isomiso2".utf8) + [UInt8](repeating: 0, count: 64)
    public static let webm: [UInt8] = [0x1A, 0x45, 0xDF, 0xA3] + [UInt8](repeating: 0x42, count: 60)
    public static let mp3: [UInt8] =
        Array("ID3".utf8) + [4, 0, 0, 0, 0, 0, 0] + [0xFF, 0xFB, 0x90, 0x64] + [UInt8](repeating: 0, count: 60)
    public static let jpeg: [UInt8] = [0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10] + Array("JFIF".utf8) + [UInt8](repeating: 0, count: 60)
    public static let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + [UInt8](repeating: 0, count: 60)
    public static let html: [UInt8] = Array("<!DOCTYPE html>\n<html><body>502 Bad Gateway</body></html>\n".utf8)
}

/// Reads a manifest given as text (written to a temporary file) into records.
public func readManifest(_ text: String, name: String = "test.csv") throws -> [ManifestRecord] {
    let dir = try TemporaryDirectory()
    defer { dir.remove() }
    let path = try dir.write(name, text)
    let opened = try ManifestOpener.open(path)
    var records: [ManifestRecord] = []
    try opened.reader.read { records.append($0) }
    return records
}

extension ManifestRecord {
    public var row: ManifestRow? {
        if case .row(let r) = self { return r }
        return nil
    }

    public var diagnostic: Diagnostic? {
        if case .diagnostic(let d) = self { return d }
        return nil
    }
}

/// The repository root (for the committed samples), found from this source file's location.
public func repositoryRoot(filePath: String = #filePath) -> String {
    var url = URL(fileURLWithPath: filePath)
    while url.path != "/" {
        url.deleteLastPathComponent()
        if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url.path }
    }
    return FileManager.default.currentDirectoryPath
}
