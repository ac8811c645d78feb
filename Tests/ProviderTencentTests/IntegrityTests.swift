import Emulator
import Foundation
import IngestCore
import Manifests
import ProviderTencent
import Synchronization
import Testing
import VODHTTP

/// A transport that alters the store's answers after the emulator gave them (a corrupting proxy,
/// a store that sends no CRC-64).
struct AlteringTransport: HTTPTransport {
    let base: any HTTPTransport
    let alter: @Sendable (HTTPRequestSpec, inout HTTPResponseData) -> Void

    func send(_ request: HTTPRequestSpec) async throws -> HTTPResponseData {
        var response = try await base.send(request)
        alter(request, &response)
        return response
    }
}

@Suite("one read of each byte: what the store answers is checked against what was hashed while sending")
struct IntegrityTests {
    func provider(
        _ endpoint: Emulator.Endpoint, partSize: Int64, alter: @escaping @Sendable (HTTPRequestSpec, inout HTTPResponseData) -> Void
    )
        -> TencentProvider
    {
        let url = URL(string: endpoint.url)!
        return TencentProvider(
            configuration: TencentConfiguration(
                endpoint: url, cosEndpoint: url, region: "ap-guangzhou",
                credentials: TencentCredentials(secretID: endpoint.secretID, secretKey: endpoint.secretKey), partSize: partSize,
                partConcurrency: 3, apiTimeout: .seconds(30), transferTimeout: .seconds(60), partAttempts: 3),
            transport: AlteringTransport(base: AsyncHTTPTransport(client: .shared), alter: alter))
    }

    static func crc(_ path: String) throws -> UInt64 {
        try FileDigest.compute(path: path, md5: false, sha256: false, crc64: true).get().crc64!
    }

    /// Uploads `file` and returns the result and the codes of the retried requests.
    func upload(_ provider: TencentProvider, _ file: TestFile, wantsMD5: Bool = false) async throws -> (TransferResult, [String]) {
        let session = try await provider.prepare(UploadRequest(item: item(file, title: "integrity"), sourceContext: "integrity"))
        let retried = Mutex<[String]>([])
        let result = try await provider.transfer(
            file: item(file, title: "integrity").media, to: session.media, session: session,
            checkpoint: TransferCheckpoint(wantsMD5: wantsMD5, retrying: { error in retried.withLock { $0.append(error.code) } }))
        return (result, retried.withLock { $0 })
    }

    @Test func theDigestsComeFromTheSendingPass() async throws {
        try await withEmulator { endpoint, directory in
            let plain = provider(endpoint, partSize: 1 << 20) { _, _ in }
            // A single PUT: the MD5 is the store's ETag of the bytes whose CRC-64 matched.
            let small = try TestFile(directory, "small.mp4", size: 300_000)
            let (simple, none) = try await upload(plain, small)
            let smallCRC = try Self.crc(small.reference.resolved)
            #expect(simple.md5 == small.md5 && simple.crc64 == smallCRC && none.isEmpty)
            // Multipart: the whole object's CRC-64 combined from the parts', no MD5 unless asked for.
            let big = try TestFile(directory, "big.mp4", size: (3 << 20) + 17)
            let (multipart, _) = try await upload(plain, big)
            let bigCRC = try Self.crc(big.reference.resolved)
            #expect(multipart.md5 == nil && multipart.crc64 == bigCRC)
            // Asked for (a manifest's md5 to check): the parts go in order and the MD5 is hashed on the way.
            let (ordered, _) = try await upload(plain, big, wantsMD5: true)
            #expect(ordered.md5 == big.md5 && ordered.crc64 == multipart.crc64)
        }
    }

    @Test func aCRCThatDisagreesIsARetriedPart() async throws {
        try await withEmulator { endpoint, directory in
            let corrupted = Mutex(0)
            let lying = provider(endpoint, partSize: 1 << 20) { request, response in
                // The store "wrote" other bytes for the first part it was sent.
                guard request.url.contains("partNumber=2"),
                    corrupted.withLock({
                        $0 += 1; return $0
                    }) == 1
                else { return }
                response.headers = response.headers.map { $0.0.lowercased() == "x-cos-hash-crc64ecma" ? ($0.0, "12345") : $0 }
            }
            let big = try TestFile(directory, "big.mp4", size: (3 << 20) + 5)
            let (result, retried) = try await upload(lying, big)
            #expect(retried == ["crc64.mismatch"])
            let bigCRC = try Self.crc(big.reference.resolved)
            #expect(result.crc64 == bigCRC)
            let listing = try await admin(endpoint, "media", as: [EmulatedMedia].self)
            #expect(listing.isEmpty, "not committed: only the bytes")
        }
    }

    @Test func aStoreWithoutCRCHasItsETagCheckedAgainstAnMD5FromTheSamePass() async throws {
        try await withEmulator { endpoint, directory in
            let badETag = Mutex(0)
            let noCRC = provider(endpoint, partSize: 1 << 20) { request, response in
                response.headers.removeAll { $0.0.lowercased() == "x-cos-hash-crc64ecma" }
                if request.url.contains("partNumber=3"),
                    badETag.withLock({
                        $0 += 1; return $0
                    }) == 2
                {
                    response.headers = response.headers.map {
                        $0.0.lowercased() == "etag" ? ($0.0, "\"00000000000000000000000000000000\"") : $0
                    }
                }
            }
            let big = try TestFile(directory, "big.mp4", size: (4 << 20) + 9)
            // The first answer without a CRC is checked by reading that range again; from then on
            // each part's MD5 comes from its sending pass. The second upload meets a wrong ETag.
            _ = try await upload(noCRC, big)
            let (result, retried) = try await upload(noCRC, big)
            #expect(retried == ["etag.mismatch"])
            let bigCRC = try Self.crc(big.reference.resolved)
            #expect(result.crc64 == bigCRC)
        }
    }
}
