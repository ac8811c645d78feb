/// The file-name rules shared by the platforms, as data.
///
/// The media list is the union the platforms document for their upload and workflow-trigger rules
/// (Tencent VOD FAQ "supported formats", Alibaba VOD/MPS 4.1); the cover list is the image types both
/// accept for covers. Matching is case-insensitive.
public enum MediaRules {
    public static let videoExtensions: Set<String> = [
        "3gp", "asf", "avi", "dat", "dv", "flv", "f4v", "gif", "m2t", "m3u8", "m4v", "mj2", "mjpeg",
        "mkv", "mov", "mp4", "mpe", "mpg", "mpeg", "mts", "ogg", "qt", "rm", "rmvb", "swf", "ts",
        "vob", "wmv", "webm",
    ]
    public static let audioExtensions: Set<String> = [
        "aac", "ac3", "acm", "amr", "ape", "caf", "flac", "m4a", "mp3", "ra", "wav", "wma", "aiff",
    ]
    public static let mediaExtensions: Set<String> = videoExtensions.union(audioExtensions)
    public static let coverExtensions: Set<String> = [
        "jpg", "jpeg", "png", "gif", "bmp", "tif", "tiff", "heif", "webp",
    ]

    /// The extension of the last path component, lower-cased, without the dot.
    ///
    /// Returns `nil` when the name has no `.` at all (accepted by the platforms' trigger rule), and
    /// `""` for a name that ends with a dot. A leading dot (`.hidden`) is part of the name.
    public static func fileExtension(ofPath path: String) -> String? {
        let u = path.utf8
        let nameStart = u.lastIndex(of: UInt8(ascii: "/")).map { u.index(after: $0) } ?? u.startIndex
        guard let dot = u[nameStart...].lastIndex(of: UInt8(ascii: ".")), dot != nameStart else { return nil }
        let ext = Substring(u[u.index(after: dot)...])
        return ext.utf8.allSatisfy({ !(65...90).contains($0) }) ? String(ext) : ext.lowercased()
    }

    /// The last path component without its extension (the default title).
    public static func baseName(ofPath path: String) -> String {
        let u = path.utf8
        let nameStart = u.lastIndex(of: UInt8(ascii: "/")).map { u.index(after: $0) } ?? u.startIndex
        guard let dot = u[nameStart...].lastIndex(of: UInt8(ascii: ".")), dot != nameStart else {
            return String(Substring(u[nameStart...]))
        }
        return String(Substring(u[nameStart..<dot]))
    }
}
