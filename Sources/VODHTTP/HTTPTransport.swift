import AsyncHTTPClient
import Crypto
import Foundation
import IngestCore
import Logging
import NIOCore
import NIOHTTP1
import Synchronization
import VendorSigning

/// A request body: nothing, bytes in memory (API calls, small XML), or a byte range of a file,
/// streamed from disk in chunks (media is never read whole into memory). A file body's bytes are
/// hashed into `digest` as they are read for sending, so the sender checks what the store
/// received without reading the file again.
public enum HTTPBody: Sendable {
    case empty
    case bytes([UInt8])
    case file(path: String, offset: Int64, length: Int64, digest: BodyDigest? = nil)

    public var length: Int64 {
        switch self {
        case .empty: 0
        case .bytes(let b): Int64(b.count)
        case .file(_, _, let length, _): length
        }
    }
}

/// The digests of one file body, computed in the pass that sends it: always its CRC-64/ECMA (what
/// COS and OSS return), its MD5 when asked (a part's ETag), and a running MD5 of a whole file
/// whose parts are sent in order. One per attempt: a resent body starts from a fresh one.
public final class BodyDigest: Sendable {
    struct State {
        var crc = CRC64()
        var md5: Insecure.MD5?
        var whole: Insecure.MD5?
        var bytes: Int64 = 0
    }
    private let state: Mutex<State>

    /// - Parameters:
    ///   - md5: hash the body's MD5 too.
    ///   - continuing: the whole file's MD5 over every byte before this body, to carry on.
    public init(md5: Bool, continuing whole: Insecure.MD5? = nil) {
        state = Mutex(State(md5: md5 ? Insecure.MD5() : nil, whole: whole))
    }

    func update(_ bytes: UnsafeRawBufferPointer) {
        state.withLock {
            $0.crc.update(bytes)
            $0.md5?.update(bufferPointer: bytes)
            $0.whole?.update(bufferPointer: bytes)
            $0.bytes += Int64(bytes.count)
        }
    }

    /// Bytes hashed so far (the whole body once it was sent).
    public var bytes: Int64 { state.withLock { $0.bytes } }
    public var crc64: UInt64 { state.withLock { $0.crc.value } }
    public var md5: [UInt8]? { state.withLock { $0.md5.map { Array($0.finalize()) } } }
    /// The running whole-file MD5 after this body, to continue with the next part.
    public var whole: Insecure.MD5? { state.withLock { $0.whole } }
}

/// One HTTP exchange as the providers describe it.
public struct HTTPRequestSpec: Sendable {
    public var method: String
    public var url: String
    /// Sent as given (an explicit `Host` is kept: how a loopback emulator is reached under the cloud's host name).
    public var headers: [(String, String)]
    public var body: HTTPBody
    /// The whole exchange must finish within this time.
    public var timeout: Duration
    /// Larger response bodies are refused (``TransportError/Kind/responseTooLarge``).
    public var responseLimit: Int

    public init(
        method: String, url: String, headers: [(String, String)] = [], body: HTTPBody = .empty,
        timeout: Duration = .seconds(60), responseLimit: Int = 1 << 20
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
        self.responseLimit = responseLimit
    }
}

public struct HTTPResponseData: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(String, String)], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// First value of header `name`, case-insensitive.
    public func header(_ name: String) -> String? {
        headers.first { $0.0.caseInsensitiveCompare(name) == .orderedSame }?.1
    }
}

/// Why an exchange produced no response.
public struct TransportError: Error, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case timeout, connection, responseTooLarge, fileUnreadable, invalidURL, cancelled
    }
    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { "\(kind.rawValue): \(message)" }
}

/// Sends requests. Providers depend on this protocol, tests may substitute it.
public protocol HTTPTransport: Sendable {
    func send(_ request: HTTPRequestSpec) async throws -> HTTPResponseData
}

/// The production transport, on AsyncHTTPClient: a deadline on every exchange, file bodies streamed
/// in 256 KiB chunks, response bodies collected up to a limit.
public struct AsyncHTTPTransport: HTTPTransport {
    public let client: HTTPClient
    /// Called with the size of each chunk of a file body before it is read and handed to the
    /// connection; it may wait (the bandwidth cap).
    public let onBodyBytes: (@Sendable (Int) async -> Void)?
    /// Each exchange at debug (method, host, path without its query, status, milliseconds,
    /// the storage's request id); never a header or a query, which carry signatures and tokens.
    public let logger: Logger

    public init(
        client: HTTPClient, onBodyBytes: (@Sendable (Int) async -> Void)? = nil, logger: Logger = Logger(label: "vodingest.http")
    ) {
        self.client = client
        self.onBodyBytes = onBodyBytes
        self.logger = logger
    }

    /// A client configured for uploads: connection pool sized for `connections`, no redirects
    /// (an upload answered with a redirect is an error, not something to replay).
    public static func makeClient(connections: Int) -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: max(8, connections))
        configuration.timeout = .init(connect: .seconds(10), read: .seconds(120))
        configuration.decompression = .disabled
        // A refused or failed connect fails the request at once instead of retrying inside the pool
        // until the deadline: the engine retries with its own backoff, and an unreachable endpoint
        // shows in seconds, not minutes.
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }

    public func send(_ spec: HTTPRequestSpec) async throws -> HTTPResponseData {
        var request = HTTPClientRequest(url: spec.url)
        request.method = HTTPMethod(rawValue: spec.method)
        for (name, value) in spec.headers { request.headers.add(name: name, value: value) }
        switch spec.body {
        case .empty:
            if spec.method == "PUT" || spec.method == "POST" { request.body = .bytes(ByteBuffer()) }
        case .bytes(let bytes):
            request.body = .bytes(ByteBuffer(bytes: bytes))
        case .file(let path, let offset, let length, let digest):
            let chunks = FileChunks(path: path, offset: offset, length: length, onChunk: onBodyBytes, digest: digest)
            request.body = .stream(chunks, length: .known(length))
        }
        let deadline =
            NIODeadline.now()
            + .nanoseconds(
                Int64(spec.timeout.components.seconds) * 1_000_000_000
                    + spec.timeout.components.attoseconds / 1_000_000_000)
        let started = ContinuousClock.now
        do {
            let response = try await client.execute(request, deadline: deadline)
            let body = try await response.body.collect(upTo: spec.responseLimit)
            if logger.logLevel <= .debug {
                let elapsed = ContinuousClock.now - started
                var metadata: Logger.Metadata = [
                    "http.method": "\(spec.method)", "http.host": "\(Self.hostOf(spec.url))",
                    "http.path": "\(URL(string: spec.url)?.path ?? "")", "http.status": "\(response.status.code)",
                    "duration_ms": "\(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)",
                ]
                // The API action (a header on Tencent, a query parameter on Alibaba); nothing else of either.
                if let action = spec.headers.first(where: { $0.0.caseInsensitiveCompare("X-TC-Action") == .orderedSame })?.1
                    ?? URLComponents(string: spec.url)?.queryItems?.first(where: { $0.name == "Action" })?.value
                {
                    metadata["vod.action"] = "\(action)"
                }
                if let id = response.headers.first(name: "x-cos-request-id") ?? response.headers.first(name: "x-oss-request-id") {
                    metadata["storage.request_id"] = "\(id)"
                }
                logger.debug("http exchange", metadata: metadata)
            }
            return HTTPResponseData(
                status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) },
                body: Array(buffer: body))
        } catch let error as TransportError {
            throw error
        } catch is CancellationError {
            throw CancellationError()
        } catch let error as HTTPClientError {
            if [.deadlineExceeded, .readTimeout, .connectTimeout, .writeTimeout].contains(error) {
                throw TransportError(.timeout, "no answer from \(Self.hostOf(spec.url)) within \(spec.timeout)")
            }
            if error == .cancelled { throw CancellationError() }
            if [.invalidURL, .emptyHost, .emptyScheme].contains(error) {
                throw TransportError(.invalidURL, "invalid URL \(spec.url)")
            }
            throw TransportError(.connection, "\(Self.hostOf(spec.url)): \(error)")
        } catch let error as NIOTooManyBytesError {
            throw TransportError(
                .responseTooLarge, "the response of \(Self.hostOf(spec.url)) exceeds \(spec.responseLimit) bytes: \(error)")
        } catch let error as IOError {
            if Task.isCancelled { throw CancellationError() }
            throw TransportError(.connection, "\(Self.hostOf(spec.url)): \(String(cString: strerror(error.errnoCode)))")
        } catch {
            if Task.isCancelled { throw CancellationError() }
            throw TransportError(.connection, "\(Self.hostOf(spec.url)): \(error)")
        }
    }

    static func hostOf(_ url: String) -> String { URL(string: url)?.host ?? url }
}

#if canImport(Glibc)
    import Glibc
    private let closeFile = Glibc.close
#else
    import Darwin
    private let closeFile = Darwin.close
#endif

/// A byte range of a file as an async sequence of buffers, read with `pread` one chunk at a time.
struct FileChunks: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    static let chunkSize = 256 * 1024

    let path: String
    let offset: Int64
    let length: Int64
    let onChunk: (@Sendable (Int) async -> Void)?
    let digest: BodyDigest?

    /// An open file that closes itself when the last iterator holding it goes: a body the client
    /// stops reading half-way (a connection reset, a timeout) leaks no descriptor.
    final class Descriptor: @unchecked Sendable {
        let fd: Int32
        init(_ fd: Int32) { self.fd = fd }
        deinit { _ = closeFile(fd) }
    }

    struct AsyncIterator: AsyncIteratorProtocol {
        let path: String
        var position: Int64
        let end: Int64
        var file: Descriptor? = nil
        let onChunk: (@Sendable (Int) async -> Void)?
        let digest: BodyDigest?

        mutating func next() async throws -> ByteBuffer? {
            guard position < end else {
                file = nil
                return nil
            }
            try Task.checkCancellation()
            let count = Int(Swift.min(Int64(FileChunks.chunkSize), end - position))
            // Bandwidth and progress first: the bytes are reserved before they are read and sent.
            if let onChunk { await onChunk(count) }
            try Task.checkCancellation()
            if file == nil {
                let fd = open(path, O_RDONLY)
                if fd < 0 { throw TransportError(.fileUnreadable, "cannot open \(path): \(String(cString: strerror(errno)))") }
                file = Descriptor(fd)
            }
            var buffer = ByteBufferAllocator().buffer(capacity: count)
            let fd = file!.fd
            let at = position
            var failure: Int32 = 0
            let read = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { raw in
                let n = pread(fd, raw.baseAddress, count, off_t(at))
                // An I/O error is reported below; the buffer takes no negative count.
                if n < 0 { failure = errno }
                return Swift.max(0, n)
            }
            // Hashed here, in the one read of these bytes.
            if read > 0, let digest { buffer.withUnsafeReadableBytes { digest.update($0) } }
            if failure != 0 {
                file = nil
                throw TransportError(.fileUnreadable, "reading \(path) at byte \(position) failed: \(String(cString: strerror(failure)))")
            }
            guard read == count else {
                file = nil
                throw TransportError(
                    .fileUnreadable,
                    "\(path) ended at byte \(position + Int64(read)), expected \(end): was it changed during the upload?")
            }
            position += Int64(read)
            return buffer
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(path: path, position: offset, end: offset + length, onChunk: onChunk, digest: digest)
    }
}
