import AsyncHTTPClient
import Crypto
import Emulator
import Foundation
import IngestCore
import IngestTesting
import NIOCore
import ProviderTencent
import Synchronization
import Testing
import VODHTTP

/// A provider as the conformance suite drives it: what every vendor target must pass against the
/// emulator. A vendor joins by adding itself to ``ProviderUnderTest/all``.
struct ProviderUnderTest: Sendable, CustomTestStringConvertible {
    let name: String
    /// A provider talking to the emulator at `endpoint` with `secretKey`, preferring parts of `partSize`.
    let make: @Sendable (_ endpoint: Emulator.Endpoint, _ secretKey: String, _ partSize: Int64) -> TencentProvider

    var testDescription: String { name }

    static let all: [ProviderUnderTest] = [
        ProviderUnderTest(name: "tencent") { endpoint, secretKey, partSize in
            let url = URL(string: endpoint.url)!
            return TencentProvider(
                configuration: TencentConfiguration(
                    endpoint: url, cosEndpoint: url, region: "ap-guangzhou",
                    credentials: TencentCredentials(secretID: endpoint.secretID, secretKey: secretKey), partSize: partSize,
                    partConcurrency: 3, apiTimeout: .seconds(30), transferTimeout: .seconds(60), partAttempts: 2),
                transport: AsyncHTTPTransport(client: .shared))
        }
    ]
}

/// The kit's emulator, files and items (IngestTesting), for the Tencent-only tests here.
func withEmulator<T: Sendable>(
    _ tune: @Sendable (inout EmulatorConfiguration) -> Void = { _ in },
    _ body: @escaping @Sendable (Emulator.Endpoint, TemporaryDirectory) async throws -> T
) async throws -> T {
    try await ConformanceKit.withEmulator(tune, body)
}

typealias TestFile = ConformanceKit.TestFile

func item(_ media: TestFile, cover: TestFile? = nil, title: String) -> IngestItem { ConformanceKit.item(media, cover: cover, title: title) }

/// prepare, transfer media (and cover), commit.
func upload(_ provider: any VODProvider, _ item: IngestItem, context: String) async throws -> RemoteMedia {
    let session = try await provider.prepare(UploadRequest(item: item, sourceContext: context, sessionContext: "conformance"))
    try await provider.transfer(file: item.media, to: session.media, session: session) { _ in }
    if let cover = item.cover, let location = session.cover {
        try await provider.transfer(file: cover, to: location, session: session) { _ in }
    }
    return try await provider.commit(session)
}

func admin<T: Decodable>(_ endpoint: Emulator.Endpoint, _ path: String, as type: T.Type) async throws -> T {
    let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: endpoint.url + "/_emulator/" + path), timeout: .seconds(10))
    let body = try await response.body.collect(upTo: 16 << 20)
    return try JSONDecoder().decode(T.self, from: Data(buffer: body))
}

/// The error a throwing call threw, as a ``ProviderError``.
func providerError(_ body: () async throws -> Void) async -> ProviderError? {
    do {
        try await body()
        return nil
    } catch let error as ProviderError {
        return error
    } catch {
        Issue.record("expected a ProviderError, got \(error)")
        return nil
    }
}

/// Tencent as the shared conformance kit (IngestTesting) drives it; the Tencent-only checks
/// (SearchMedia, DeleteMedia, the repeated-commit policies) follow.
extension ConformancePlatform {
    static let tencent = ConformancePlatform(
        name: "tencent",
        make: { endpoint, secret, partSize in
            ProviderUnderTest.all[0].make(endpoint, secret ?? endpoint.secretKey, partSize) as any VODProvider & MediaCatalog
        },
        secret: { $0.secretKey },
        listing: { endpoint in
            let media = try await admin(endpoint, "media", as: [EmulatedMedia].self)
            return media.map { ($0.fileID, $0.name, $0.size) }
        })
}

@Suite("provider conformance kit: Tencent")
struct TencentConformanceKitTests {
    @Test(arguments: ConformanceKit.checks.map(\.name))
    func check(_ name: String) async throws {
        try await ConformanceKit.checks.first { $0.name == name }!.run(.tencent)
    }
}

@Suite("Tencent provider against the emulator: search, delete, commit policies")
struct ConformanceTests {
    @Test("search by name prefix, fuzzy name and time; delete removes", arguments: ProviderUnderTest.all)
    func searchAndDelete(_ p: ProviderUnderTest) async throws {
        try await withEmulator { endpoint, dir in
            let provider = p.make(endpoint, endpoint.secretKey, 16 << 20)
            var ids: [String] = []
            for name in ["run7-a", "run7-b", "other"] {
                let media = try TestFile(dir, name + ".mp4", size: 1000 + ids.count)
                ids.append(try await upload(provider, item(media, title: name), context: "conformance:" + name).fileID)
            }
            let byPrefix = try await provider.search(MediaQuery(namePrefixes: ["run7-"]))
            #expect(byPrefix.total == 2 && byPrefix.media.map(\.fileID) == Array(ids.prefix(2)))
            #expect(try await provider.search(MediaQuery(names: ["the"])).media.map(\.fileID) == [ids[2]])
            let now = Int64(Date().timeIntervalSince1970)
            #expect(try await provider.search(MediaQuery(createdAfter: now - 60, createdBefore: now + 60)).total == 3)
            #expect(try await provider.search(MediaQuery(createdBefore: now - 60)).total == 0)
            let page = try await provider.search(MediaQuery(offset: 1, limit: 1))
            #expect(page.total == 3 && page.media.map(\.fileID) == [ids[1]])

            try await provider.delete(fileID: ids[0])
            #expect(try await provider.describe(fileIDs: [ids[0]]).missing == [ids[0]])
            let again = await providerError { try await provider.delete(fileID: ids[0]) }
            #expect(again?.code == "ResourceNotFound.FileNotExist" && again?.disposition == .failItem, "\(String(describing: again))")
        }
    }

    @Test("a repeated commit: the same FileId when idempotent, VodSessionKey refused when rejecting", arguments: ProviderUnderTest.all)
    func repeatedCommit(_ p: ProviderUnderTest) async throws {
        for policy in [EmulatorConfiguration.CommitPolicy.idempotent, .reject] {
            try await withEmulator({ $0.commitPolicy = policy }) { endpoint, dir in
                let provider = p.make(endpoint, endpoint.secretKey, 16 << 20)
                let media = try TestFile(dir, "a.mp4", size: 1000)
                let session = try await provider.prepare(UploadRequest(item: item(media, title: "a"), sourceContext: "x"))
                try await provider.transfer(file: media.reference, to: session.media, session: session) { _ in }
                let first = try await provider.commit(session)
                switch policy {
                case .idempotent:
                    #expect(try await provider.commit(session).fileID == first.fileID)
                case .reject:
                    let error = await providerError { _ = try await provider.commit(session) }
                    #expect(error?.code == "InvalidParameterValue.VodSessionKey" && error?.disposition == .failItem)
                }
                #expect(try await admin(endpoint, "media", as: [EmulatedMedia].self).count == 1)
            }
        }
    }

    @Test("commit before the bytes are there is ResourceNotFound", arguments: ProviderUnderTest.all)
    func commitWithoutUpload(_ p: ProviderUnderTest) async throws {
        try await withEmulator { endpoint, dir in
            let provider = p.make(endpoint, endpoint.secretKey, 16 << 20)
            let media = try TestFile(dir, "a.mp4", size: 1000)
            let session = try await provider.prepare(UploadRequest(item: item(media, title: "a"), sourceContext: "x"))
            let error = await providerError { _ = try await provider.commit(session) }
            #expect(error?.code == "ResourceNotFound" && error?.disposition == .failItem)
        }
    }
}
