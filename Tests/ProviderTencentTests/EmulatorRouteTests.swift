import AsyncHTTPClient
import Emulator
import Foundation
import IngestCore
import IngestTesting
import NIOCore
import NIOHTTP1
import ProviderTencent
import Testing
import VendorSigning

/// The emulator's routes at the wire level: envelopes, refusals, COS XML errors, part rules,
/// persistence across a restart and the admin API.
@Suite("emulator routes")
struct EmulatorRouteTests {
    struct Reply {
        var status: Int
        var headers: HTTPHeaders
        var body: String
        var size = 0
        /// `Response.Error.Code` of a VOD envelope, or `<Code>` of a COS error.
        var code: String? {
            if let json = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any],
                let response = json["Response"] as? [String: Any]
            {
                return (response["Error"] as? [String: Any])?["Code"] as? String
            }
            return XMLText.first("Code", in: Substring(body))
        }
    }

    static func send(
        _ url: String, method: HTTPMethod = .POST, headers: [(String, String)] = [], body: [UInt8] = []
    ) async throws -> Reply {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if !body.isEmpty || method == .PUT || method == .POST { request.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let collected = try await response.body.collect(upTo: 1 << 20)
        return Reply(
            status: Int(response.status.code), headers: response.headers, body: String(buffer: collected), size: collected.readableBytes)
    }

    /// A VOD API call signed with `secretKey` at `timestamp`.
    static func vod(
        _ endpoint: Emulator.Endpoint, _ action: String, _ parameters: [String: Any], secretKey: String? = nil, timestamp: Int64? = nil
    ) async throws -> Reply {
        let body = Array(try JSONSerialization.data(withJSONObject: parameters))
        let host = String(endpoint.url.dropFirst("http://".count))
        let time = timestamp ?? Int64(Date().timeIntervalSince1970)
        let signed = [TC3Signature.Header("Content-Type", "application/json"), TC3Signature.Header("Host", host)]
        let authorization = TC3Signature.authorization(
            secretID: endpoint.secretID, secretKey: secretKey ?? endpoint.secretKey, service: "vod", timestamp: time, headers: signed,
            body: body)
        return try await send(
            endpoint.url,
            headers: [
                ("Content-Type", "application/json"), ("Host", host), ("X-TC-Action", action), ("X-TC-Version", "2018-07-17"),
                ("X-TC-Timestamp", String(time)), ("Authorization", authorization),
            ], body: body)
    }

    /// A COS request signed with an ApplyUpload session's temporary credentials.
    static func cos(
        _ endpoint: Emulator.Endpoint, _ applied: [String: Any], method: HTTPMethod, query: [(String, String)] = [],
        body: [UInt8] = [], extra: [(String, String)] = []
    ) async throws -> Reply {
        let certificate = applied["TempCertificate"] as! [String: Any]
        let key = String((applied["MediaStoragePath"] as! String).dropFirst())
        let host = "\(applied["StorageBucket"] as! String).cos.\(applied["StorageRegion"] as! String).myqcloud.com"
        let token = certificate["Token"] as! String
        let now = Int64(Date().timeIntervalSince1970)
        let signedHeaders = [("host", host), ("x-cos-security-token", token)] + extra.map { ($0.0.lowercased(), $0.1) }
        let authorization = COSSignature.authorization(
            secretID: certificate["SecretId"] as! String, secretKey: certificate["SecretKey"] as! String, method: method.rawValue,
            path: "/" + key, query: query, headers: signedHeaders, keyTime: "\(now - 60);\(now + 600)")
        let queryText = query.map { $0.1.isEmpty ? $0.0 : "\($0.0)=\(COSSignature.encode($0.1))" }.joined(separator: "&")
        let url = endpoint.url + "/" + COSSignature.encodePath(key) + (queryText.isEmpty ? "" : "?" + queryText)
        return try await send(
            url, method: method, headers: [("Host", host), ("x-cos-security-token", token), ("Authorization", authorization)] + extra,
            body: body)
    }

    static func response(_ reply: Reply) throws -> [String: Any] {
        let json = try #require(try JSONSerialization.jsonObject(with: Data(reply.body.utf8)) as? [String: Any])
        return try #require(json["Response"] as? [String: Any])
    }

    @Test("VOD answers with exactly application/json and refuses what is not signed right")
    func vodRefusals() async throws {
        try await withEmulator { endpoint, _ in
            let ok = try await Self.vod(endpoint, "ApplyUpload", ["MediaType": "mp4", "MediaName": "a"])
            #expect(ok.status == 200 && ok.headers["Content-Type"] == ["application/json"] && ok.code == nil)
            let unsigned = try await Self.send(
                endpoint.url, headers: [("X-TC-Action", "ApplyUpload"), ("Content-Type", "application/json")], body: Array("{}".utf8))
            #expect(unsigned.status == 200 && unsigned.code == "MissingParameter")
            let stale = try await Self.vod(
                endpoint, "ApplyUpload", ["MediaType": "mp4"], timestamp: Int64(Date().timeIntervalSince1970) - 600)
            #expect(stale.code == "AuthFailure.SignatureExpire")
            let wrong = try await Self.vod(endpoint, "ApplyUpload", ["MediaType": "mp4"], secretKey: "not-the-key")
            #expect(wrong.code == "AuthFailure.SignatureFailure")
            #expect(try await Self.vod(endpoint, "NoSuchAction", [:]).code == "InvalidAction")
            #expect(try await Self.vod(endpoint, "ApplyUpload", ["MediaType": "exe"]).code == "InvalidParameterValue.MediaType")
            #expect(
                try await Self.vod(endpoint, "ApplyUpload", ["MediaType": "mp4", "SourceContext": String(repeating: "x", count: 251)]).code
                    == "InvalidParameterValue.SourceContext")
            #expect(try await Self.vod(endpoint, "CommitUpload", ["VodSessionKey": "forged"]).code == "InvalidParameterValue.VodSessionKey")
            #expect(
                try await Self.vod(endpoint, "DescribeMediaInfos", ["FileIds": Array(repeating: "1", count: 21)]).code
                    == "InvalidParameterValue.FileIds")
        }
    }

    @Test("COS: XML errors, unknown bucket, part rules, ListParts, Abort, Content-MD5")
    func cosRules() async throws {
        try await withEmulator { endpoint, _ in
            let anonymous = try await Self.send(
                endpoint.url + "/x", method: .PUT, headers: [("Host", "vodingest-1500000000.cos.ap-guangzhou.myqcloud.com")],
                body: [1, 2, 3])
            #expect(anonymous.status == 403 && anonymous.code == "AccessDenied" && anonymous.headers["Content-Type"] == ["application/xml"])
            let bucket = try await Self.send(
                endpoint.url + "/x", method: .GET, headers: [("Host", "other-1.cos.ap-guangzhou.myqcloud.com")])
            #expect(bucket.status == 404 && bucket.code == "NoSuchBucket")

            let applied = try Self.response(try await Self.vod(endpoint, "ApplyUpload", ["MediaType": "mp4", "MediaName": "parts"]))
            let initiated = try await Self.cos(endpoint, applied, method: .POST, query: [("uploads", "")])
            let uploadID = try #require(XMLText.first("UploadId", in: Substring(initiated.body)))
            var etags: [String] = []
            for number in 1...2 {
                let part = try await Self.cos(
                    endpoint, applied, method: .PUT, query: [("partNumber", String(number)), ("uploadId", uploadID)],
                    body: [UInt8](repeating: UInt8(number), count: 100_000))
                #expect(part.status == 200)
                etags.append(part.headers["ETag"].first ?? "")
            }
            let tooMany = try await Self.cos(
                endpoint, applied, method: .PUT, query: [("partNumber", "10001"), ("uploadId", uploadID)], body: [1])
            #expect(tooMany.status == 400 && tooMany.code == "InvalidArgument")
            let badDigest = try await Self.cos(
                endpoint, applied, method: .PUT, query: [("partNumber", "3"), ("uploadId", uploadID)], body: [1, 2, 3],
                extra: [("Content-MD5", "AAAAAAAAAAAAAAAAAAAAAA==")])
            #expect(badDigest.status == 400 && badDigest.code == "BadDigest")
            let listed = try await Self.cos(endpoint, applied, method: .GET, query: [("uploadId", uploadID)])
            #expect(XMLText.blocks("Part", in: listed.body).count == 2)
            #expect(XMLText.blocks("Part", in: listed.body).compactMap { XMLText.first("Size", in: $0) } == ["100000", "100000"])
            let completeBody =
                "<CompleteMultipartUpload>"
                + etags.enumerated().map {
                    "<Part><PartNumber>\($0.offset + 1)</PartNumber><ETag>\($0.element)</ETag></Part>"
                }.joined() + "</CompleteMultipartUpload>"
            let small = try await Self.cos(
                endpoint, applied, method: .POST, query: [("uploadId", uploadID)], body: Array(completeBody.utf8))
            #expect(small.status == 400 && small.code == "EntityTooSmall")
            let aborted = try await Self.cos(endpoint, applied, method: .DELETE, query: [("uploadId", uploadID)])
            #expect(aborted.status == 204)
            let gone = try await Self.cos(endpoint, applied, method: .GET, query: [("uploadId", uploadID)])
            #expect(gone.status == 404 && gone.code == "NoSuchUpload")
        }
    }

    @Test("a restarted emulator keeps committed media, sessions and credentials, and serves them on its new port")
    func persistsAcrossRestart() async throws {
        let directory = try TemporaryDirectory("vodingest-restart")
        defer { directory.remove() }
        let configuration = EmulatorConfiguration(dataDirectory: directory.path + "/emulator", eventWaitSeconds: 0)
        let media = try TestFile(directory, "kept.mp4", size: 50_000)
        let (fileID, appliedReply) = try await Emulator.withRunning(configuration: configuration) { endpoint in
            let provider = ProviderUnderTest.all[0].make(endpoint, endpoint.secretKey, 16 << 20)
            let remote = try await upload(provider, item(media, title: "kept"), context: "restart")
            // A session applied for but not used before the restart.
            return (remote.fileID, try await Self.vod(endpoint, "ApplyUpload", ["MediaType": "mp4", "MediaName": "later"]).body)
        }
        try await Emulator.withRunning(configuration: configuration) { endpoint in
            let applied = try Self.response(Reply(status: 200, headers: [:], body: appliedReply))
            let described = try Self.response(try await Self.vod(endpoint, "DescribeMediaInfos", ["FileIds": [fileID]]))
            let info = try #require((described["MediaInfoSet"] as? [[String: Any]])?.first)
            let url = try #require((info["BasicInfo"] as? [String: Any])?["MediaUrl"] as? String)
            #expect(url.hasPrefix(endpoint.url))
            let served = try await Self.send(url, method: .GET)
            #expect(served.status == 200 && served.size == 50_000)
            // The earlier session's credentials still work, and its key commits.
            let put = try await Self.cos(endpoint, applied, method: .PUT, body: [UInt8](repeating: 7, count: 1000))
            #expect(put.status == 200)
            let committed = try await Self.vod(endpoint, "CommitUpload", ["VodSessionKey": applied["VodSessionKey"] as! String])
            #expect(committed.code == nil)
        }
    }

    @Test("admin API: knobs change behaviour, the configuration never shows the secret")
    func admin() async throws {
        try await withEmulator { endpoint, _ in
            let set = try await Self.send(
                endpoint.url + "/_emulator/config", method: .PUT, body: Array(#"{"apiInternalErrorRate":1}"#.utf8))
            #expect(set.status == 200 && !set.body.contains(endpoint.secretKey) && set.body.contains("<redacted>"))
            #expect(try await Self.vod(endpoint, "ApplyUpload", ["MediaType": "mp4"]).code == "InternalError")
            let shown = try await Self.send(endpoint.url + "/_emulator/config", method: .GET)
            #expect(!shown.body.contains(endpoint.secretKey))
            let bad = try await Self.send(endpoint.url + "/_emulator/config", method: .PUT, body: Array("[1]".utf8))
            #expect(bad.status == 400)
            // Every key checked before any is applied: a typo, a wrong type, a value out of range
            // (1e30 ms of latency used to trap the emulator converting it to Int).
            for body in [
                #"{"rateLimit":5}"#, #"{"latencyMilliseconds":1e30}"#, #"{"apiInternalErrorRate":5}"#, #"{"actionRateLimit":-1}"#,
                #"{"credentialLifetime":-10}"#, #"{"commitPolicy":"bogus"}"#, #"{"cosSlowDownRate":true}"#,
                #"{"cosSlowDownRate":0.5,"eventLeaseSeconds":"long"}"#,
            ] {
                let refused = try await Self.send(endpoint.url + "/_emulator/config", method: .PUT, body: Array(body.utf8))
                #expect(refused.status == 400 && refused.body.contains("nothing was changed"), "\(body): \(refused.body)")
            }
            let after = try await Self.send(endpoint.url + "/_emulator/config", method: .GET)
            #expect(after.status == 200 && after.body.contains(#""cosSlowDownRate" : 0"#), "\(after.body)")
            #expect(try await Self.send(endpoint.url + "/nothing-here", method: .GET).status == 404)
        }
    }
}
