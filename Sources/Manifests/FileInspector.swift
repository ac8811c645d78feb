import IngestCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The folder files must stay inside, as given and with symlinks resolved.
public struct ValidationRoot: Sendable, Hashable {
    /// Absolute, lexically normalised.
    public var lexical: String
    /// `realpath` of the root; `nil` when it does not exist.
    public var real: String?

    public init(lexical: String, real: String?) {
        self.lexical = lexical
        self.real = real
    }

    /// The root for `directory` (relative to `currentDirectory`), resolving symlinks when it exists.
    public static func make(
        directory: String, currentDirectory: String, fileSystem: any FileSystemAccess
    )
        -> ValidationRoot
    {
        let absolute = directory.hasPrefix("/") ? directory : currentDirectory + "/" + directory
        let lexical = PathNormalizer.normalize(absolute)
        return ValidationRoot(lexical: lexical, real: try? fileSystem.realPath(lexical).get())
    }

    /// Whether `path` (absolute, normalised) lies strictly inside the root.
    public func contains(_ path: String, resolved: Bool) -> Bool {
        let base = resolved ? (real ?? lexical) : lexical
        if PathNormalizer.isInside(path, base) { return true }
        // Lexically, accept a path written against either spelling of the root.
        if !resolved, let real, PathNormalizer.isInside(path, real) { return true }
        return false
    }
}

/// Pure path arithmetic.
public enum PathNormalizer {
    /// Removes `.`, resolves `..` and repeated slashes in an absolute path, without touching the disk.
    public static func normalize(_ path: String) -> String {
        if isAlreadyNormal(path) { return path }
        var parts: [Substring] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == ".." {
                if !parts.isEmpty { parts.removeLast() }
                continue
            }
            parts.append(part)
        }
        return "/" + parts.joined(separator: "/")
    }

    /// True for an absolute path with no `//`, `/./`, `/../` and no trailing slash (the common case).
    static func isAlreadyNormal(_ path: String) -> Bool {
        path.withBytes { u in
            guard u.first == UInt8(ascii: "/") else { return false }
            if u.count == 1 { return true }
            guard u.last != UInt8(ascii: "/") else { return false }
            var previousSlash = false
            var dots = 0  // dots since the last slash, -1 once the segment has another character
            for b in u {
                if b == UInt8(ascii: "/") {
                    if previousSlash || dots == 1 || dots == 2 { return false }
                    previousSlash = true
                    dots = 0
                } else {
                    previousSlash = false
                    if b == UInt8(ascii: "."), dots >= 0 { dots += 1 } else { dots = -1 }
                }
            }
            return !(dots == 1 || dots == 2)
        }
    }

    /// `path` is below `root` (both absolute and normalised).
    public static func isInside(_ path: String, _ root: String) -> Bool {
        path.withBytes { p in
            root.withBytes { r in
                guard !r.isEmpty else { return false }
                if r.count == 1, r[0] == UInt8(ascii: "/") { return p.count > 1 }
                guard p.count > r.count, p[r.count] == UInt8(ascii: "/") else { return false }
                return memcmp(p.baseAddress!, r.baseAddress!, r.count) == 0
            }
        }
    }
}

/// What `stat` says about a file.
public struct FileStatus: Sendable, Hashable {
    public enum Kind: String, Sendable { case regular, directory, symlink, fifo, socket, device, other }
    public var kind: Kind
    public var size: Int64
    public var modified: Double
    public var device: UInt64
    public var inode: UInt64

    public init(kind: Kind, size: Int64, modified: Double, device: UInt64, inode: UInt64) {
        self.kind = kind
        self.size = size
        self.modified = modified
        self.device = device
        self.inode = inode
    }
}

/// The file-system calls validation makes; `LocalFileSystem` in production, a wrapper in tests.
/// Failures carry `errno`.
public protocol FileSystemAccess: Sendable {
    func realPath(_ path: String) -> Result<String, Errno>
    /// `stat` (follows symlinks) or `lstat` (does not).
    func status(_ path: String, followSymlinks: Bool) -> Result<FileStatus, Errno>
    /// Opens the file and reads up to `count` bytes from its start.
    func readPrefix(_ path: String, count: Int) -> Result<[UInt8], Errno>
}

/// A POSIX error number.
public struct Errno: Error, Sendable, Hashable, CustomStringConvertible {
    public var code: Int32
    public init(_ code: Int32) { self.code = code }
    public var description: String { String(cString: strerror(code)) }
    public static let notFound = Errno(ENOENT)
    public static let accessDenied = Errno(EACCES)
}

/// The real file system, through POSIX calls.
public struct LocalFileSystem: FileSystemAccess {
    public init() {}

    public func realPath(_ path: String) -> Result<String, Errno> {
        guard let resolved = realpath(path, nil) else { return .failure(Errno(errno)) }
        defer { free(resolved) }
        return .success(String(cString: resolved))
    }

    public func status(_ path: String, followSymlinks: Bool) -> Result<FileStatus, Errno> {
        var info = stat()
        let rc = followSymlinks ? stat(path, &info) : lstat(path, &info)
        guard rc == 0 else { return .failure(Errno(errno)) }
        let kind: FileStatus.Kind
        switch info.st_mode & S_IFMT {
        case S_IFREG: kind = .regular
        case S_IFDIR: kind = .directory
        case S_IFLNK: kind = .symlink
        case S_IFIFO: kind = .fifo
        case S_IFSOCK: kind = .socket
        case S_IFCHR, S_IFBLK: kind = .device
        default: kind = .other
        }
        #if canImport(Darwin)
            let mtime = Double(info.st_mtimespec.tv_sec) + Double(info.st_mtimespec.tv_nsec) / 1e9
        #else
            let mtime = Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9
        #endif
        return .success(
            FileStatus(
                kind: kind, size: Int64(info.st_size), modified: mtime, device: UInt64(info.st_dev),
                inode: UInt64(info.st_ino)))
    }

    public func readPrefix(_ path: String, count: Int) -> Result<[UInt8], Errno> {
        // O_NONBLOCK so that a FIFO that slipped past the regular-file check cannot hang us.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return .failure(Errno(errno)) }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + filled, count - filled) }
            if n < 0 {
                if errno == EINTR { continue }
                return .failure(Errno(errno))
            }
            if n == 0 { break }
            filled += n
        }
        bytes.removeLast(count - filled)
        return .success(bytes)
    }
}

/// Facts about a file that passed the file checks.
public struct InspectedFile: Sendable {
    public var resolved: String
    public var status: FileStatus
    public var header: [UInt8]
}

/// Why a file failed the file checks.
public enum FileProblem: Error, Sendable, Equatable {
    case outsideRoot(resolved: String, viaSymlink: Bool)
    case missing(resolved: String, brokenSymlink: Bool)
    case notRegular(resolved: String, kind: FileStatus.Kind)
    case unreadable(resolved: String, reason: String)
    case empty(resolved: String)
}

/// Runs the file checks of one path: confinement (lexical, then after symlinks), existence, type,
/// readability, size, and reads the header for sniffing.
public struct FileInspector: Sendable {
    public var fileSystem: any FileSystemAccess

    public init(fileSystem: any FileSystemAccess = LocalFileSystem()) {
        self.fileSystem = fileSystem
    }

    /// The absolute, normalised form of `given` against `root`, without disk access.
    public static func lexicalPath(_ given: String, root: ValidationRoot) -> String {
        PathNormalizer.normalize(given.hasPrefix("/") ? given : root.lexical + "/" + given)
    }

    public func inspect(_ given: String, root: ValidationRoot) -> Result<InspectedFile, FileProblem> {
        let lexical = Self.lexicalPath(given, root: root)
        guard root.contains(lexical, resolved: false) else {
            return .failure(.outsideRoot(resolved: lexical, viaSymlink: false))
        }
        let real: String
        switch fileSystem.realPath(lexical) {
        case .success(let path): real = path
        case .failure(let error):
            if error.code == ENOENT || error.code == ENOTDIR {
                let dangling = (try? fileSystem.status(lexical, followSymlinks: false).get())?.kind == .symlink
                return .failure(.missing(resolved: lexical, brokenSymlink: dangling))
            }
            if error.code == ELOOP { return .failure(.missing(resolved: lexical, brokenSymlink: true)) }
            return .failure(.unreadable(resolved: lexical, reason: error.description))
        }
        guard root.contains(real, resolved: true) else {
            return .failure(.outsideRoot(resolved: real, viaSymlink: true))
        }
        let status: FileStatus
        switch fileSystem.status(real, followSymlinks: true) {
        case .success(let s): status = s
        case .failure(let error):
            if error.code == ENOENT { return .failure(.missing(resolved: real, brokenSymlink: false)) }
            return .failure(.unreadable(resolved: real, reason: error.description))
        }
        guard status.kind == .regular else { return .failure(.notRegular(resolved: real, kind: status.kind)) }
        let header: [UInt8]
        switch fileSystem.readPrefix(real, count: ContentSniffer.headerSize) {
        case .success(let bytes): header = bytes
        case .failure(let error): return .failure(.unreadable(resolved: real, reason: error.description))
        }
        guard status.size > 0, !header.isEmpty else { return .failure(.empty(resolved: real)) }
        return .success(InspectedFile(resolved: real, status: status, header: header))
    }
}
