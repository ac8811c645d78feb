import CFileCopy
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import VendorSigning

#if canImport(Glibc)
    import Glibc
#else
    import Darwin
#endif

/// A stand-in for Tencent Cloud VOD and COS and for Alibaba Cloud VOD and OSS on one port, speaking
/// their wire protocols. Each request goes to one dialect by what it carries: Tencent VOD API 3.0 by
/// `X-TC-Action`, COS by a `<bucket>.cos.<region>.myqcloud.com` Host, OSS by an `OSS` Authorization,
/// a `<bucket>.oss-<region>.aliyuncs.com` Host or a path under the Alibaba bucket, Alibaba's VOD RPC
/// by `/` with an `Action` parameter or an ACS3 Authorization; `/_emulator/...` is the admin API.
///
/// Use ``Emulator/run(configuration:host:port:onReady:)`` to serve it.
public struct EmulatorResponder: HTTPResponder {
    public typealias Context = EmulatorContext
    let store: EmulatorStore

    public func respond(to request: Request, context: Context) async throws -> Response {
        let configuration = await store.configuration
        if configuration.latencyMilliseconds > 0 {
            try await Task.sleep(for: .milliseconds(configuration.latencyMilliseconds))
        }
        let (path, query) = RFC3986.splitTarget(request.uri.string)
        let host = request.head.authority ?? ""
        if let cos = COSHost(host) {
            return try await COSHandler(store: store, configuration: configuration, channel: context.channel)
                .handle(request, bucket: cos.bucket, region: cos.region, path: path, query: query)
        }
        if let bucket = OSSHandler.virtualHostBucket(host) {
            let key = path.hasPrefix("/") ? String(path.dropFirst()) : path
            return try await OSSHandler(store: store, configuration: configuration, channel: context.channel)
                .handle(request, bucket: bucket, key: key, query: query)
        }
        if path.hasPrefix("/_emulator/") {
            return try await admin(request, path: path, query: query)
        }
        if request.headers[HTTPField.Name("X-TC-Action")!] != nil {
            return try await VODHandler(store: store, configuration: configuration).handle(request)
        }
        let authorization = request.headers[.authorization] ?? ""
        let firstSegment = path.split(separator: "/", maxSplits: 1).first.map(String.init) ?? ""
        if authorization.hasPrefix("OSS ") || authorization.hasPrefix("OSS4-")
            || (!firstSegment.isEmpty && firstSegment == configuration.aliyunBucket)
        {
            // Path style: /<bucket>/<key>, the key percent-decoded (oss2 sends `/` as %2F).
            let rest = path.dropFirst(1 + firstSegment.count)
            let key = rest.hasPrefix("/") ? String(rest.dropFirst()) : String(rest)
            return try await OSSHandler(store: store, configuration: configuration, channel: context.channel)
                .handle(request, bucket: firstSegment, key: key, query: query)
        }
        if path == "/",
            authorization.hasPrefix("ACS3-") || query.contains(where: { $0.0 == "Action" })
                || request.headers[.contentType]?.hasPrefix("application/x-www-form-urlencoded") == true
        {
            return try await AliyunVODHandler(store: store, configuration: configuration).handle(request, query: query)
        }
        if request.method == .get || request.method == .head, path.hasPrefix("/vod/") {
            return try await serveMedia(path: path, head: request.method == .head)
        }
        return Response(
            status: .notFound, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: "not found\n")))
    }

    /// `/vod/<FileId>/f0.<ext>` and `/vod/<FileId>/cover.<ext>`: Tencent's MediaUrl and CoverUrl;
    /// `/vod/<VideoId>/source.<ext>` and `/vod/<ImageId>/image.<ext>`: Alibaba's mezzanine FileURL and ImageURL.
    /// Any other path under an HLS media's id is a file of its package, at its path relative to the
    /// playlist (so the playlist URL plays).
    func serveMedia(path: String, head: Bool) async throws -> Response {
        let parts = path.split(separator: "/")
        guard parts.count >= 3 else { return Response(status: .notFound) }
        let id = String(parts[1])
        let name = parts[2]
        let found: String?
        let isOwn = parts.count == 3 && ["f0.", "cover.", "source.", "image."].contains { name.hasPrefix($0) }
        if !isOwn {
            let relative = parts.dropFirst(2).joined(separator: "/").removingPercentEncoding ?? ""
            found = await store.packageFile(id: id, relative: relative)
        } else if name.hasPrefix("source.") || name.hasPrefix("image.") {
            found = await store.aliyunFile(id: id, image: name.hasPrefix("image."))
        } else {
            found = await store.file(fileID: id, cover: name.hasPrefix("cover."))
        }
        guard let file = found,
            let attributes = try? FileManager.default.attributesOfItem(atPath: file),
            let size = (attributes[.size] as? NSNumber)?.intValue
        else { return Response(status: .notFound) }
        var headers: HTTPFields = [.contentLength: String(size)]
        headers[.contentType] = "application/octet-stream"
        if head { return Response(status: .ok, headers: headers) }
        return Response(status: .ok, headers: headers, body: fileBody(file, size: size))
    }

    /// The admin API: `GET /_emulator/media` (Tencent), `GET /_emulator/videos` (Alibaba),
    /// `POST /_emulator/expire-credentials?key=…` or `?VideoId=…` (the temporary credentials of that
    /// object end now),
    /// `GET /_emulator/counters`, `GET /_emulator/events` (not confirmed yet), `GET|PUT /_emulator/config`.
    func admin(_ request: Request, path: String, query: [(String, String)]) async throws -> Response {
        switch (request.method, path) {
        case (.get, "/_emulator/media"):
            return Self.json(try await store.listing())
        case (.get, "/_emulator/videos"):
            return Self.json(try await store.presentedVideos())
        case (.post, "/_emulator/expire-credentials"):
            // By object key (either dialect), or by an Alibaba VideoId.
            var key = query.first(where: { $0.0 == "key" })?.1
            if key == nil, let id = query.first(where: { $0.0 == "VideoId" })?.1 { key = await store.video(id: id)?.objectKey }
            guard let key else {
                return Response(status: .notFound, body: .init(byteBuffer: ByteBuffer(string: "give ?key=<object key> or ?VideoId=<id>\n")))
            }
            let count = try await store.expireCredentials(key: key, now: Int64(Date().timeIntervalSince1970))
            return Self.json(["expired": count])
        case (.put, "/_emulator/sink"):
            // A raw upload with no protocol around it (the same disk write, MD5 and CRC-64 as a COS
            // or OSS PUT): the reference `scripts/bench-ingest` measures the client against.
            let path = await store.configuration.dataDirectory + "/incoming/sink-" + UUID().uuidString
            let (size, md5, _) = try await receive(request.body, to: path, crc: true)
            try? FileManager.default.removeItem(atPath: path)
            return Self.json(["size": String(size), "md5": Hex.encode(md5)])
        case (.get, "/_emulator/events"):
            return Self.json(try await store.pendingEvents(now: Int64(Date().timeIntervalSince1970)))
        case (.get, "/_emulator/counters"):
            return Self.json(await store.counters)
        case (.get, "/_emulator/config"):
            var shown = await store.configuration
            shown.secretKey = "<redacted>"
            shown.aliyunAccessKeySecret = "<redacted>"
            return Self.json(shown)
        case (.put, "/_emulator/config"), (.post, "/_emulator/config"):
            let body = try await request.body.collect(upTo: 64 * 1024)
            guard let knobs = try? JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any] else {
                return Response(status: .badRequest, body: .init(byteBuffer: ByteBuffer(string: "expected a JSON object of knobs\n")))
            }
            let apply: Knobs
            switch Knobs.parse(knobs) {
            case .success(let parsed): apply = parsed
            case .failure(let error):
                return Response(status: .badRequest, body: .init(byteBuffer: ByteBuffer(string: error.message + "\n")))
            }
            await store.update { apply.apply(to: &$0) }
            var shown = await store.configuration
            shown.secretKey = "<redacted>"
            shown.aliyunAccessKeySecret = "<redacted>"
            return Self.json(shown)
        default:
            return Response(status: .notFound)
        }
    }

    static func json<T: Encodable>(_ value: T) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        let data = (try? encoder.encode(value)) ?? Data("null".utf8)
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// The request context: Hummingbird's basics plus the connection (the reset fault closes it).
public struct EmulatorContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    let channel: (any Channel)?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

/// The settable knobs of the admin API (`PUT /_emulator/config` with a JSON object). Every key is
/// checked before anything is applied: an unknown key, a value of the wrong type or out of its
/// range is refused (400) with the knob's rule, and the configuration stays as it was.
struct Knobs: Sendable {
    /// A number knob: its range, and where it goes.
    struct Number: Sendable {
        let range: ClosedRange<Double>
        let rule: String
        let set: @Sendable (inout EmulatorConfiguration, Double) -> Void
    }

    static let numbers: [String: Number] = [
        "actionRateLimit": Number(range: 0...1_000_000, rule: "requests a second per action (0: no limit), up to 1000000") {
            $0.actionRateLimit = $1
        },
        "apiInternalErrorRate": Number(range: 0...1, rule: "a share from 0 to 1") { $0.apiInternalErrorRate = $1 },
        "cosSlowDownRate": Number(range: 0...1, rule: "a share from 0 to 1") { $0.cosSlowDownRate = $1 },
        "completeErrorRate": Number(range: 0...1, rule: "a share from 0 to 1") { $0.completeErrorRate = $1 },
        "connectionResetRate": Number(range: 0...1, rule: "a share from 0 to 1") { $0.connectionResetRate = $1 },
        "eventWaitSeconds": Number(range: 0...3600, rule: "seconds, 0 to 3600") { $0.eventWaitSeconds = $1 },
        "processingDelaySeconds": Number(range: 0...86_400, rule: "seconds, 0 to 86400") { $0.processingDelaySeconds = $1 },
        "eventLeaseSeconds": Number(range: 0...86_400, rule: "seconds, 0 to 86400") { $0.eventLeaseSeconds = $1 },
        "latencyMilliseconds": Number(range: 0...60_000, rule: "milliseconds, 0 to 60000") { $0.latencyMilliseconds = Int($1) },
        "credentialLifetime": Number(range: 0...31_536_000, rule: "seconds, 0 (expired at once) to a year") {
            $0.credentialLifetime = Int64($1)
        },
        "sessionLifetime": Number(range: 0...31_536_000, rule: "seconds, 0 (expired at once) to a year") { $0.sessionLifetime = Int64($1) },
        "maximumSkew": Number(range: 0...31_536_000, rule: "seconds, 0 to a year") { $0.maximumSkew = Int64($1) },
    ]

    private let changes: [@Sendable (inout EmulatorConfiguration) -> Void]

    /// The knobs of `object`, or why they cannot be taken (every problem, for the 400 answer).
    static func parse(_ object: [String: Any]) -> Result<Knobs, KnobError> {
        var changes: [@Sendable (inout EmulatorConfiguration) -> Void] = []
        var problems: [String] = []
        for (key, value) in object.sorted(by: { $0.key < $1.key }) {
            if key == "commitPolicy" {
                let policies = EmulatorConfiguration.CommitPolicy.allCases.map(\.rawValue)
                guard let text = value as? String, let policy = EmulatorConfiguration.CommitPolicy(rawValue: text) else {
                    problems.append("commitPolicy must be one of \(policies.joined(separator: ", "))")
                    continue
                }
                changes.append { $0.commitPolicy = policy }
            } else if let knob = numbers[key] {
                // A JSON true/false is an NSNumber too: only numbers are numbers here.
                guard let number = value as? NSNumber, !"\(type(of: value))".contains("Boolean"),
                    knob.range.contains(number.doubleValue)
                else {
                    problems.append("\(key) must be \(knob.rule), not \(value)")
                    continue
                }
                let v = number.doubleValue
                changes.append { knob.set(&$0, v) }
            } else {
                problems.append("\(key) is not a knob")
            }
        }
        guard problems.isEmpty else {
            let known = (Array(numbers.keys) + ["commitPolicy"]).sorted().joined(separator: ", ")
            return .failure(KnobError(message: problems.joined(separator: "; ") + " (the knobs: \(known)); nothing was changed"))
        }
        return .success(Knobs(changes: changes))
    }

    func apply(to c: inout EmulatorConfiguration) {
        for change in changes { change(&c) }
    }
}

struct KnobError: Error {
    let message: String
}

extension EmulatorConfiguration {
    /// The rule `value` breaks for the number knob `key` (`"a share from 0 to 1"`), or nil when it
    /// keeps it: the emulator's flags are checked by the admin API's own table.
    public static func knobRule(_ key: String, brokenBy value: Double) -> String? {
        guard let knob = Knobs.numbers[key] else { return "no such knob" }
        return knob.range.contains(value) ? nil : knob.rule
    }
}

/// `<bucket>.cos.<region>.myqcloud.com[:port]`.
struct COSHost {
    let bucket: String
    let region: String

    init?(_ authority: String) {
        let host = authority.split(separator: ":").first.map(String.init) ?? authority
        guard host.hasSuffix(".myqcloud.com") else { return nil }
        let labels = host.dropLast(".myqcloud.com".count).split(separator: ".")
        guard labels.count == 3, labels[1] == "cos" else { return nil }
        bucket = String(labels[0])
        region = String(labels[2])
    }
}

/// A response body that streams a file in 256 KiB chunks (MediaUrl, CoverUrl, GET Object).
func fileBody(_ path: String, size: Int) -> ResponseBody {
    ResponseBody(contentLength: size) { writer in
        guard let handle = FileHandle(forReadingAtPath: path) else { throw HTTPError(.internalServerError) }
        defer { try? handle.close() }
        while let chunk = try handle.read(upToCount: 256 * 1024), !chunk.isEmpty {
            try await writer.write(ByteBuffer(bytes: chunk))
        }
        try await writer.finish(nil)
    }
}

/// Streams a request body to `path`, hashing as it goes (MD5, and CRC-64/ECMA when `crc` is set:
/// OSS returns it, COS does not need it).
func receive(_ body: RequestBody, to path: String, crc: Bool = false) async throws -> (size: Int64, md5: [UInt8], crc64: UInt64?) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else { throw storageFault(writing: path) }
    defer { close(fd) }
    var hasher = Insecure.MD5()
    var checksum = CRC64()
    var size: Int64 = 0
    for try await buffer in body {
        try buffer.withUnsafeReadableBytes { raw in
            hasher.update(bufferPointer: raw)
            if crc { checksum.update(raw) }
            var offset = 0
            while offset < raw.count {
                let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n <= 0 { throw storageFault(writing: path) }
                offset += n
            }
        }
        size += Int64(buffer.readableBytes)
    }
    return (size, Array(hasher.finalize()), crc ? checksum.value : nil)
}

/// The store's own error (InternalError, 500, in the COS or OSS XML) when the emulator's data
/// directory refuses a write: full, read-only or removed. It names the file and the system's
/// reason, so that a client's report says where the trouble is.
func storageFault(writing path: String, reading: Bool = false) -> COSHandler.Failure {
    let reason = String(cString: strerror(errno))
    let folder = ((path as NSString).deletingLastPathComponent as NSString).deletingLastPathComponent
    return COSHandler.Failure(
        status: .internalServerError, code: "InternalError",
        message:
            "the emulator cannot \(reading ? "read" : "write") \(path) (\(reason)): its data directory \(folder) is full, "
            + "read-only or gone. Free space there or give the emulator another --data-dir")
}

/// Joins the parts of a multipart upload into one new object file (Complete Multipart Upload),
/// each appended in the kernel (copy_file_range): the bytes are not read or hashed again. Their
/// CRC-64 is combined from the parts' (``combinedCRC(_:)``), the object's MD5 is worked out when a
/// catalogue call first asks (``EmulatorStore/md5(stored:file:)``).
func join(_ parts: [EmulatorDatabase.Part], into final: String) throws -> Int64 {
    let out = open(final, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard out >= 0 else { throw storageFault(writing: final) }
    defer { close(out) }
    var size: Int64 = 0
    for part in parts {
        let input = open(part.path, O_RDONLY)
        guard input >= 0 else { throw storageFault(writing: part.path, reading: true) }
        defer { close(input) }
        guard cfilecopy_append(input, out, part.size) == 0 else {
            throw storageFault(writing: final)
        }
        size += part.size
    }
    return size
}

/// The CRC-64/ECMA of the parts' bytes one after another, from each part's (zlib's combine).
func combinedCRC(_ parts: [EmulatorDatabase.Part]) -> UInt64? {
    var whole: UInt64? = nil
    for part in parts {
        guard let text = part.crc64, let crc = UInt64(text) else { return nil }
        whole = whole.map { CRC64.combine($0, crc, lengthOfB: part.size) } ?? crc
    }
    return whole
}
