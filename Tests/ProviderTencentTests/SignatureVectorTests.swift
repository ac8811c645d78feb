import Foundation
import Testing

@testable import VendorSigning

/// The vectors produced by the official SDKs (tencentcloud-sdk-python-common, cos-python-sdk-v5),
/// copied from ../shared/vectors into Fixtures/.
enum Vectors {
    nonisolated(unsafe) static let document: [String: Any] = {
        let url = Bundle.module.url(forResource: "tencent-signatures", withExtension: "json", subdirectory: "Fixtures")!
        return try! JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
    }()
    static var tc3: [[String: Any]] { document["tc3"] as! [[String: Any]] }
    static var cos: [[String: Any]] { document["cos"] as! [[String: Any]] }
    static func named(_ list: [[String: Any]], _ name: String) -> [String: Any] {
        list.first { $0["name"] as? String == name }!
    }
}

extension Dictionary where Key == String, Value == Any {
    func dict(_ key: String) -> [String: Any] { self[key] as! [String: Any] }
    func string(_ key: String) -> String { self[key] as! String }
}

@Suite("Signatures against the official SDK vectors")
struct SignatureVectorTests {
    static let tc3Names = Vectors.tc3.map { $0["name"] as! String }
    static let cosNames = Vectors.cos.map { $0["name"] as! String }

    @Test func allVectorsArePresent() {
        #expect(Self.tc3Names.count == 7)
        #expect(Self.cosNames.count == 9)
    }

    @Test(arguments: tc3Names)
    func tc3(name: String) throws {
        let v = Vectors.named(Vectors.tc3, name)
        let inputs = v.dict("inputs")
        let request = v.dict("request")
        let intermediate = v.dict("intermediate")
        let expected = v.dict("expected")
        let headers = request.dict("headers") as! [String: String]
        let parsed = try #require(TC3Signature.parse(authorization: expected.string("authorization")))
        let signed = parsed.signedHeaders.map { name in
            TC3Signature.Header(name, headers.first { $0.key.lowercased() == name }!.value)
        }
        let body = Array(request.string("body").utf8)
        let timestamp = Int64(inputs["timestamp"] as! Int)
        #expect(Hex.sha256(body) == request.string("body_sha256"))
        #expect(TC3Signature.date(timestamp: timestamp) == intermediate.string("date"))
        let (canonical, _) = TC3Signature.canonicalRequest(method: "POST", headers: signed, payloadHash: Hex.sha256(body))
        #expect(canonical == intermediate.string("canonical_request"))
        let authorization = TC3Signature.authorization(
            secretID: inputs.string("secret_id"), secretKey: inputs.string("secret_key"), service: "vod",
            timestamp: timestamp, headers: signed, body: body)
        #expect(authorization == expected.string("authorization"))
        #expect(parsed.signature == expected.string("signature"))
    }

    @Test(arguments: cosNames)
    func cos(name: String) throws {
        let v = Vectors.named(Vectors.cos, name)
        let inputs = v.dict("inputs")
        let request = v.dict("request")
        let intermediate = v.dict("intermediate")
        let headers = request.dict("headers") as! [String: String]
        var signed = headers.filter { COSSignature.isSignable($0.key.lowercased()) }.map { ($0.key, $0.value) }
        signed.append(("host", request.string("host")))
        let query = (request["query_params"] as! [[String]]).map { ($0[0], $0[1]) }
        let path = try #require(request.string("path").removingPercentEncoding)
        let parts = COSSignature.sign(
            secretKey: inputs.string("secret_key"), method: request.string("method"), path: path, query: query,
            headers: signed, keyTime: inputs.string("sign_time"))
        #expect(parts.httpString == intermediate.string("http_string"))
        #expect(parts.stringToSign == intermediate.string("string_to_sign"))
        #expect(parts.signKey == intermediate.string("sign_key"))
        let authorization = COSSignature.authorization(
            secretID: inputs.string("secret_id"), secretKey: inputs.string("secret_key"), method: request.string("method"),
            path: path, query: query, headers: signed, keyTime: inputs.string("sign_time"))
        #expect(authorization == v.dict("expected").string("authorization"))
        // The URL path the client sends is the percent-encoded key.
        #expect(COSSignature.encodePath(path) == request.string("path"))
    }

    @Test func parsesAndRejectsAuthorizations() {
        #expect(
            TC3Signature.parse(
                authorization:
                    "TC3-HMAC-SHA256 Credential=a/2024-01-01/vod/tc3_request, SignedHeaders=content-type;host;x-tc-action, Signature=ab")?
                .signedHeaders == ["content-type", "host", "x-tc-action"])
        #expect(
            TC3Signature.parse(authorization: "HMAC-SHA1 Credential=a/2024-01-01/vod/tc3_request, SignedHeaders=host, Signature=ab") == nil)
        #expect(TC3Signature.parse(authorization: "TC3-HMAC-SHA256 Credential=a/2024-01-01/vod, SignedHeaders=host, Signature=ab") == nil)
        #expect(COSSignature.parse(authorization: "q-sign-algorithm=sha1&q-ak=x") == nil)
    }

    @Test func utcDates() {
        #expect(TC3Signature.date(timestamp: 0) == "1970-01-01")
        #expect(TC3Signature.date(timestamp: 1_704_067_199) == "2023-12-31")
        #expect(TC3Signature.date(timestamp: 1_704_067_200) == "2024-01-01")
        #expect(TC3Signature.date(timestamp: 951_782_400) == "2000-02-29")
    }
}
