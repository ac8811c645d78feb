import Foundation
import IngestCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A readable stream of bytes from a file descriptor: a manifest file or standard input.
///
/// Reads go straight to `read(2)` into the caller's buffer; nothing is read whole into memory.
/// Not thread-safe: one reader owns it.
public final class ByteSource {
    private let fd: Int32
    private let ownsDescriptor: Bool
    private var closed = false
    /// Bytes given back by ``unread(_:)`` (format sniffing), served before the descriptor.
    private var pending: [UInt8] = []
    /// A regular file's size and modification time when it was opened: compared at its end,
    /// so that a manifest still being written (or cut short) is not taken for a whole one.
    private var opened: (size: Int64, modified: timespec)? = nil

    /// Opens `path` for reading.
    /// - Throws: ``IngestError`` `manifest.unreadable` naming the file and the system's reason.
    public init(path: String) throws(IngestError) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw (IngestError.manifestUnreadable(path, reason: systemErrorText(errno)))
        }
        var info = stat()
        if fstat(descriptor, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR {
            close(descriptor)
            throw (IngestError.manifestUnreadable(path, reason: "it is a directory"))
        }
        self.fd = descriptor
        self.ownsDescriptor = true
        if (info.st_mode & S_IFMT) == S_IFREG { opened = (Int64(info.st_size), Self.modified(info)) }
    }

    private static func modified(_ info: stat) -> timespec {
        #if canImport(Darwin)
            info.st_mtimespec
        #else
            info.st_mtim
        #endif
    }

    /// At the end of a regular file: whether it is still the file that was opened.
    private func checkUnchanged() throws(IngestError) {
        guard let opened else { return }
        var info = stat()
        guard fstat(fd, &info) == 0 else { return }
        let now = Self.modified(info)
        let size = Int64(info.st_size)
        guard size != opened.size || now.tv_sec != opened.modified.tv_sec || now.tv_nsec != opened.modified.tv_nsec else { return }
        let how =
            size < opened.size
            ? "it was cut short while it was read (\(opened.size) bytes when opened, \(size) at its end)"
            : size > opened.size
                ? "it grew while it was read (\(opened.size) bytes when opened, \(size) at its end): it is still being written"
                : "it was written to while it was read (its size stayed \(size) bytes)"
        throw IngestError(
            code: "manifest.unreadable",
            message:
                "\(how). Its last line was not taken; wait until the file is complete, then run the same command again")
    }

    /// Wraps an open descriptor (standard input); it is not closed by this object.
    public init(descriptor: Int32) {
        self.fd = descriptor
        self.ownsDescriptor = false
    }

    /// Bytes in memory (tests, the fuzzer): served, then the end of input.
    public init(bytes: [UInt8]) {
        self.fd = -1
        self.ownsDescriptor = false
        self.pending = bytes
    }

    deinit {
        if ownsDescriptor, !closed { close(fd) }
    }

    /// Reads up to `count` bytes into `buffer`; returns 0 at end of input.
    public func read(into buffer: UnsafeMutableRawPointer, count: Int) throws(IngestError) -> Int {
        if !pending.isEmpty {
            let n = min(count, pending.count)
            pending.withUnsafeBytes { buffer.copyMemory(from: $0.baseAddress!, byteCount: n) }
            pending.removeFirst(n)
            return n
        }
        if fd < 0 { return 0 }
        while true {
            let n = systemRead(fd, buffer, count)
            if n == 0 { try checkUnchanged() }
            if n >= 0 { return n }
            if errno == EINTR { continue }
            throw IngestError(
                code: "manifest.unreadable",
                message: "reading it failed: \(systemErrorText(errno)) (check the disk or the source it comes from)")
        }
    }

    /// Reads at most `count` bytes from the start, for format detection; they are served again by the next reads.
    public func peek(_ count: Int) throws(IngestError) -> [UInt8] {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: count, alignment: 1)
        defer { raw.deallocate() }
        var filled = 0
        while filled < count {
            let n = try read(into: raw + filled, count: count - filled)
            if n == 0 { break }
            filled += n
        }
        let bytes = Array(UnsafeRawBufferPointer(start: raw, count: filled))
        pending.insert(contentsOf: bytes, at: 0)
        return bytes
    }
}

/// `strerror` as a Swift string.
func systemErrorText(_ code: Int32) -> String {
    String(cString: strerror(code))
}

@inline(__always)
private func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
        return Glibc.read(fd, buffer, count)
    #else
        return Darwin.read(fd, buffer, count)
    #endif
}
