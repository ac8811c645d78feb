/// What the first bytes of a file look like.
public enum SniffedFormat: String, Sendable, Hashable, CaseIterable {
    case isoBMFF, jpeg2000, matroska, avi, wave, webp, riffOther, flv, mpegTS, m2ts, mpegPS, mpegVideo
    case asf, ogg, id3, mpegAudio, adts, ac3, flac, m3u8, gif, realMedia, realAudio, swf, amr, aiff
    case caf, ape, jpeg, png, bmp, tiff, heif, html, xml, json, pdf, zip, gzip, text

    /// A phrase for messages: "looks like an HTML page".
    public var phrase: String {
        switch self {
        case .isoBMFF: "an ISO media file (MP4/MOV family)"
        case .jpeg2000: "a JPEG 2000 file"
        case .matroska: "a Matroska/WebM file"
        case .avi: "an AVI file"
        case .wave: "a WAV file"
        case .webp: "a WebP image"
        case .riffOther: "a RIFF file of another kind"
        case .flv: "an FLV file"
        case .mpegTS: "an MPEG transport stream"
        case .m2ts: "an MPEG-2 transport stream with timestamps (M2TS)"
        case .mpegPS: "an MPEG program stream"
        case .mpegVideo: "an MPEG video elementary stream"
        case .asf: "an ASF/WMV/WMA file"
        case .ogg: "an Ogg file"
        case .id3: "an audio file with an ID3 tag"
        case .mpegAudio: "an MPEG audio (MP3) stream"
        case .adts: "an AAC (ADTS) stream"
        case .ac3: "an AC-3 stream"
        case .flac: "a FLAC file"
        case .m3u8: "an HLS playlist (M3U8)"
        case .gif: "a GIF image"
        case .realMedia: "a RealMedia file"
        case .realAudio: "a RealAudio file"
        case .swf: "a Flash (SWF) file"
        case .amr: "an AMR file"
        case .aiff: "an AIFF file"
        case .caf: "a Core Audio (CAF) file"
        case .ape: "a Monkey's Audio (APE) file"
        case .jpeg: "a JPEG image"
        case .png: "a PNG image"
        case .bmp: "a BMP image"
        case .tiff: "a TIFF image"
        case .heif: "a HEIF image"
        case .html: "an HTML page (often a saved error page)"
        case .xml: "an XML document"
        case .json: "a JSON document"
        case .pdf: "a PDF document"
        case .zip: "a ZIP archive"
        case .gzip: "a gzip archive"
        case .text: "plain text"
        }
    }
}

/// Recognises media and image formats from their first bytes, and says whether a file's content
/// matches what its extension claims.
///
/// Rules are data: for each extension, the formats that may legitimately start such a file. For
/// formats with a strong signature (ISO BMFF, EBML, RIFF, FLV, ...) a missing signature is a
/// mismatch. For formats whose signature is weak (MP3 frames, AAC ADTS, AC-3), a mismatch is
/// reported only when the content positively looks like something else (text, HTML, another known
/// format), so a valid but unusual file never gets a false diagnostic. Extensions with no rule
/// (`dat`, `dv`, `acm`) get none.
public enum ContentSniffer {
    /// Bytes to read from the start of a file.
    public static let headerSize = 4096

    private static let bmffBoxes: Set<String> = [
        "ftyp", "styp", "moov", "mdat", "free", "skip", "wide", "pnot", "uuid", "sidx", "moof", "pdin",
    ]
    private static let heifBrands: Set<String> = [
        "heic", "heix", "hevc", "hevx", "heim", "heis", "hevm", "hevs", "mif1", "msf1",
    ]

    /// Expected formats per extension, and whether the signature is strong.
    static let rules: [String: (formats: Set<SniffedFormat>, strong: Bool)] = {
        var r: [String: (Set<SniffedFormat>, Bool)] = [:]
        for ext in ["mp4", "mov", "m4v", "m4a", "3gp", "f4v", "qt"] { r[ext] = ([.isoBMFF], true) }
        r["mj2"] = ([.jpeg2000, .isoBMFF], true)
        r["mkv"] = ([.matroska], true)
        r["webm"] = ([.matroska], true)
        r["avi"] = ([.avi], true)
        r["wav"] = ([.wave], true)
        r["flv"] = ([.flv], true)
        for ext in ["ts", "m2t", "mts"] { r[ext] = ([.mpegTS, .m2ts], true) }
        for ext in ["mpg", "mpeg", "mpe", "vob"] { r[ext] = ([.mpegPS, .mpegVideo, .mpegTS], true) }
        for ext in ["asf", "wmv", "wma"] { r[ext] = ([.asf], true) }
        r["ogg"] = ([.ogg], true)
        r["mp3"] = ([.id3, .mpegAudio], false)
        r["aac"] = ([.adts, .id3], false)
        r["ac3"] = ([.ac3], false)
        r["flac"] = ([.flac, .id3], true)
        r["m3u8"] = ([.m3u8], true)
        r["gif"] = ([.gif], true)
        r["rm"] = ([.realMedia], true)
        r["rmvb"] = ([.realMedia], true)
        r["ra"] = ([.realAudio, .realMedia], true)
        r["swf"] = ([.swf], true)
        r["amr"] = ([.amr], true)
        r["aiff"] = ([.aiff], true)
        r["caf"] = ([.caf], true)
        r["ape"] = ([.ape], true)
        r["mjpeg"] = ([.jpeg, .avi], true)
        // Covers.
        r["jpg"] = ([.jpeg], true)
        r["jpeg"] = ([.jpeg], true)
        r["png"] = ([.png], true)
        r["bmp"] = ([.bmp], true)
        r["tif"] = ([.tiff], true)
        r["tiff"] = ([.tiff], true)
        r["heif"] = ([.heif], true)
        r["webp"] = ([.webp], true)
        return r
    }()

    /// The verdict on a file's content against its extension.
    public enum Verdict: Equatable, Sendable {
        /// The content matches, or the extension has no rule.
        case matches
        /// The content does not match; `detected` says what it looks like, if known.
        case mismatch(detected: SniffedFormat?)
    }

    /// Checks `header` (the first bytes of the file) against `fileExtension` (lower-case).
    public static func check(header: [UInt8], fileExtension: String) -> Verdict {
        guard let rule = rules[fileExtension] else { return .matches }
        let detected = detect(header)
        if let detected, rule.formats.contains(detected) { return .matches }
        if rule.strong || detected != nil { return .mismatch(detected: detected) }
        return .matches
    }

    /// The media type a file named without an extension should be declared as, if recognisable.
    public static func mediaType(for format: SniffedFormat) -> String? {
        switch format {
        case .isoBMFF: "mp4"
        case .matroska: "mkv"
        case .avi: "avi"
        case .wave: "wav"
        case .flv: "flv"
        case .mpegTS, .m2ts: "ts"
        case .mpegPS, .mpegVideo: "mpg"
        case .asf: "wmv"
        case .ogg: "ogg"
        case .id3, .mpegAudio: "mp3"
        case .adts: "aac"
        case .flac: "flac"
        case .m3u8: "m3u8"
        case .realMedia: "rm"
        default: nil
        }
    }

    /// What `header` looks like, or `nil` for unrecognised binary content.
    public static func detect(_ header: [UInt8]) -> SniffedFormat? {
        let h = header
        let n = h.count
        func at(_ offset: Int, _ bytes: [UInt8]) -> Bool {
            guard offset + bytes.count <= n else { return false }
            for (i, b) in bytes.enumerated() where h[offset + i] != b { return false }
            return true
        }
        func at(_ offset: Int, _ ascii: String) -> Bool { at(offset, Array(ascii.utf8)) }
        func fourCC(_ offset: Int) -> String? {
            guard offset + 4 <= n else { return nil }
            return String(decoding: h[offset..<(offset + 4)], as: UTF8.self)
        }
        guard n >= 2 else { return n == 0 ? nil : (isText(h) ? .text : nil) }

        if at(0, [0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20]) { return .jpeg2000 }
        if let box = fourCC(4), bmffBoxes.contains(box) {
            if box == "ftyp", let major = fourCC(8) {
                if heifBrands.contains(major) { return .heif }
                // Compatible brands: 16 ..< box size.
                let size = n >= 4 ? Int(h[0]) << 24 | Int(h[1]) << 16 | Int(h[2]) << 8 | Int(h[3]) : 0
                var offset = 16
                var onlyHEIF = false
                while offset + 4 <= min(size, n) {
                    if let brand = fourCC(offset), heifBrands.contains(brand), major == "mif1" || major == "msf1" {
                        onlyHEIF = true
                    }
                    offset += 4
                }
                if onlyHEIF { return .heif }
            }
            return .isoBMFF
        }
        if at(0, [0x1A, 0x45, 0xDF, 0xA3]) { return .matroska }
        if at(0, "RIFF") || at(0, "RF64") || at(0, "BW64") {
            if at(8, "AVI ") || at(8, "AVIX") { return .avi }
            if at(8, "WAVE") { return .wave }
            if at(8, "WEBP") { return .webp }
            return .riffOther
        }
        if at(0, "FLV") && n > 3 && h[3] == 0x01 { return .flv }
        if at(0, "FORM") && (at(8, "AIFF") || at(8, "AIFC")) { return .aiff }
        if at(0, [0x30, 0x26, 0xB2, 0x75, 0x8E, 0x66, 0xCF, 0x11, 0xA6, 0xD9, 0x00, 0xAA, 0x00, 0x62, 0xCE, 0x6C]) {
            return .asf
        }
        if at(0, "OggS") { return .ogg }
        if at(0, "fLaC") { return .flac }
        if at(0, "ID3") { return .id3 }
        if at(0, ".RMF") { return .realMedia }
        if at(0, [0x2E, 0x72, 0x61, 0xFD]) { return .realAudio }
        if at(0, "FWS") || at(0, "CWS") || at(0, "ZWS") { return .swf }
        if at(0, "#!AMR") { return .amr }
        if at(0, "caff") { return .caf }
        if at(0, "MAC ") { return .ape }
        if at(0, "GIF87a") || at(0, "GIF89a") { return .gif }
        if at(0, [0xFF, 0xD8, 0xFF]) { return .jpeg }
        if at(0, [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .png }
        if at(0, [0x49, 0x49, 0x2A, 0x00]) || at(0, [0x4D, 0x4D, 0x00, 0x2A]) { return .tiff }
        if at(0, "%PDF-") { return .pdf }
        if at(0, [0x50, 0x4B, 0x03, 0x04]) { return .zip }
        if at(0, [0x1F, 0x8B]) { return .gzip }
        if at(0, [0x00, 0x00, 0x01, 0xBA]) { return .mpegPS }
        if at(0, [0x00, 0x00, 0x01, 0xB3]) { return .mpegVideo }
        if h[0] == 0x47, n < 189 || h[188] == 0x47 { return .mpegTS }
        if n > 4, h[4] == 0x47, n < 197 || h[196] == 0x47 { return .m2ts }
        if h[0] == 0x0B, h[1] == 0x77 { return .ac3 }
        if h[0] == 0xFF, h[1] & 0xF6 == 0xF0 { return .adts }
        if h[0] == 0xFF, h[1] & 0xE0 == 0xE0, (h[1] >> 1) & 0x03 != 0 { return .mpegAudio }
        if at(0, "BM"), n >= 14 { return bmpHeaderPlausible(h) ? .bmp : (isText(h) ? .text : nil) }
        if isText(h) { return classifyText(h) }
        return nil
    }

    private static func bmpHeaderPlausible(_ h: [UInt8]) -> Bool {
        // Reserved fields (bytes 6-9) are zero in real BMP files.
        h[6] == 0 && h[7] == 0 && h[8] == 0 && h[9] == 0
    }

    /// True when the bytes are UTF-8 text without control characters other than whitespace.
    static func isText(_ h: [UInt8]) -> Bool {
        var bytes = h[...]
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes = bytes.dropFirst(3) }
        var i = bytes.startIndex
        while i < bytes.endIndex {
            let b = bytes[i]
            if b < 0x20, b != 0x09, b != 0x0A, b != 0x0D, b != 0x0C { return false }
            if b == 0x7F { return false }
            if b >= 0x80 {
                let length = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 0
                if length == 0 || b > 0xF4 { return false }
                // A sequence cut by the end of the header is fine.
                for k in 1..<length where i + k < bytes.endIndex {
                    if bytes[i + k] & 0xC0 != 0x80 { return false }
                }
                i += length
                continue
            }
            i += 1
        }
        return true
    }

    private static func classifyText(_ h: [UInt8]) -> SniffedFormat {
        var start = 0
        if h.starts(with: [0xEF, 0xBB, 0xBF]) { start = 3 }
        while start < h.count, [0x20, 0x09, 0x0A, 0x0D].contains(h[start]) { start += 1 }
        let head = String(decoding: h[start..<min(h.count, start + 64)], as: UTF8.self).lowercased()
        if head.hasPrefix("#extm3u") { return .m3u8 }
        for marker in ["<!doctype html", "<html", "<head", "<body", "<!--", "<title", "<h1", "<div", "<p>"]
        where head.hasPrefix(marker) {
            return .html
        }
        if head.hasPrefix("<?xml") {
            let rest = String(decoding: h[start..<min(h.count, 1024)], as: UTF8.self).lowercased()
            return rest.contains("<html") ? .html : .xml
        }
        if head.hasPrefix("{") || head.hasPrefix("[") { return .json }
        return .text
    }
}
