import Foundation

#if canImport(Glibc)
    import Glibc
#else
    import Darwin
#endif

/// `mkdir -p` that says why it failed: Foundation's error on Linux does not (ENOTDIR, EACCES, ...).
public enum Folder {
    /// Makes `path` and its parents. Returns nil when `path` is a folder afterwards, else the first
    /// folder that could not be made and the system's reason.
    public static func create(_ path: String) -> (folder: String, reason: String)? {
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            prefix += "/" + component
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: prefix, isDirectory: &isDirectory), isDirectory.boolValue { continue }
            if mkdir(prefix, 0o755) != 0, errno != EEXIST {
                return (prefix, String(cString: strerror(errno)))
            }
        }
        return nil
    }
}
