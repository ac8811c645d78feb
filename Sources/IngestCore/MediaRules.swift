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
        path.withBytes { u in
            guard let dot = nameAndDot(u).dot else { return nil }
            let ext = UnsafeBufferPointer(rebasing: u[(dot + 1)...])
            if !ext.contains(where: { $0 >= 65 && $0 <= 90 }) { return String(decoding: ext, as: UTF8.self) }
            return String(decoding: ext, as: UTF8.self).lowercased()
        }
    }

    /// The last path component without its extension (the default title).
    public static func baseName(ofPath path: String) -> String {
        path.withBytes { u in
            let (nameStart, dot) = nameAndDot(u)
            return String(decoding: UnsafeBufferPointer(rebasing: u[nameStart..<(dot ?? u.count)]), as: UTF8.self)
        }
    }

    /// Where the last path component starts, and its last `.` unless there is none or it is the first byte.
    @inline(__always)
    private static func nameAndDot(_ u: UnsafeBufferPointer<UInt8>) -> (nameStart: Int, dot: Int?) {
        var i = u.count
        var dot: Int? = nil
        while i > 0 {
            let b = u[i - 1]
            if b == UInt8(ascii: "/") { break }
            if b == UInt8(ascii: "."), dot == nil { dot = i - 1 }
            i -= 1
        }
        return (i, dot == i ? nil : dot)
    }
}
