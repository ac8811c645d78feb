import Foundation
import IngestCore
import Manifests
import VendorSigning

/// The parsers that read what others write: the manifest readers (CSV, XML), the HLS playlist
/// reader, and what the emulator parses of a request (the signature headers of TC3, COS, ACS3,
/// OSS and OSS V4, the request target and its query, CompleteMultipartUpload bodies, the dates).
/// `scripts/fuzz TARGET SECONDS` runs one under libFuzzer (built with -sanitize=fuzzer,address);
/// a normal build replays files through it (`vodingest-fuzz TARGET FILE|DIR...`), which is how a
/// crash found by the fuzzer is checked once fixed.
enum FuzzTarget: String, CaseIterable {
    case csv, xml, m3u8, headers, storage

    func run(_ data: UnsafeRawBufferPointer) {
        let bytes = Array(data)
        switch self {
        case .csv:
            Self.readAll(CSVManifestReader(source: ByteSource(bytes: bytes), manifest: "fuzz.csv"))
        case .xml:
            Self.readAll(XMLManifestReader(source: ByteSource(bytes: bytes), manifest: "fuzz.xml"))
        case .m3u8:
            let text = String(decoding: bytes, as: UTF8.self)
            _ = HLSPlaylist.isPlaylist(text: text)
            for uri in HLSPlaylist.references(text) {
                _ = HLSPlaylist.isURL(uri)
                _ = HLSPlaylist.namesPlaylist(uri)
                if let resolved = HLSPlaylist.resolve(uri, against: "package/master.m3u8") { _ = HLSPlaylist.folder(of: resolved) }
            }
        case .headers:
            let text = String(decoding: bytes, as: UTF8.self)
            _ = TC3Signature.parse(authorization: text)
            _ = COSSignature.parse(authorization: text)
            _ = ACS3Signature.parse(authorization: text)
            _ = OSSSignature.parse(authorization: text)
            _ = OSSV4Signature.parse(authorization: text)
            _ = OSSSignature.parseHTTPDate(text)
            _ = OSSSignature.parseCompactDate(text)
            _ = RFC3986.splitTarget(text)
            _ = RFC3986.authorizationFields(text, algorithm: "TC3-HMAC-SHA256")
        case .storage:
            let text = String(decoding: bytes, as: UTF8.self)
            _ = XMLText.completedParts(text)
            _ = XMLText.first("UploadId", in: bytes)
            _ = XMLText.unescape(text)
        }
    }

    /// Reads every record; a reader may throw on bad input (that is its answer), never crash.
    static func readAll(_ reader: some ManifestReader) {
        var records = 0
        try? reader.read { _ in records += 1 }
    }

    /// The target named by FUZZ_TARGET (libFuzzer passes no argument of ours).
    static let chosen: FuzzTarget = {
        let name = ProcessInfo.processInfo.environment["FUZZ_TARGET"] ?? ""
        guard let target = FuzzTarget(rawValue: name) else {
            FileHandle.standardError.write(
                Data("FUZZ_TARGET must be one of: \(allCases.map(\.rawValue).joined(separator: ", "))\n".utf8))
            exit(64)
        }
        return target
    }()
}

#if FUZZING
    /// libFuzzer's driver (built with -sanitize=fuzzer): runs the loop with our callback.
    @_silgen_name("LLVMFuzzerRunDriver")
    func runFuzzerDriver(
        _ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
    ) -> Int32

    @main
    enum Fuzz {
        static func main() {
            _ = FuzzTarget.chosen
            var argc = CommandLine.argc
            var argv = CommandLine.unsafeArgv
            let status = runFuzzerDriver(&argc, &argv) { data, size in
                FuzzTarget.chosen.run(UnsafeRawBufferPointer(start: data, count: size))
                return 0
            }
            exit(status)
        }
    }
#else
    /// Replays inputs: `vodingest-fuzz TARGET FILE|DIR...`.
    @main
    enum Replay {
        static func main() throws {
            let arguments = CommandLine.arguments.dropFirst()
            guard let name = arguments.first, let target = FuzzTarget(rawValue: name) else {
                print("usage: vodingest-fuzz \(FuzzTarget.allCases.map(\.rawValue).joined(separator: "|")) FILE|DIR...")
                exit(64)
            }
            var count = 0
            for path in arguments.dropFirst() {
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { continue }
                let files =
                    isDirectory.boolValue
                    ? try FileManager.default.contentsOfDirectory(atPath: path).sorted().map { path + "/" + $0 } : [path]
                for file in files {
                    let data = try Data(contentsOf: URL(fileURLWithPath: file))
                    data.withUnsafeBytes { target.run($0) }
                    count += 1
                }
            }
            print("\(name): \(count) inputs replayed, no crash")
        }
    }
#endif
