@testable import CreditMeterHTTP
import Foundation
import Testing

/// docs/openapi.json is the one source of the API's description; the binary serves it.
@Suite struct OpenAPIDocumentTests {
    static let file: URL = {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            let candidate = url.appendingPathComponent("docs/openapi.json")
            if FileManager.default.fileExists(atPath: candidate.path) { return candidate }
        }
        return url
    }()

    @Test func theBinaryServesTheFileByteForByte() throws {
        let file = try Data(contentsOf: Self.file)
        #expect(Array(file) == OpenAPIDocument.bytes, "docs/openapi.json changed: run scripts/generate-openapi.sh")
    }

    @Test func everyRouteIsDescribedAndNoOther() throws {
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(OpenAPIDocument.bytes)) as? [String: Any])
        #expect(doc["openapi"] as? String == "3.1.0")
        let paths = try #require(doc["paths"] as? [String: [String: Any]])
        let routes = Set(API.Route.allCases.filter { $0 != .unmatched }.map(\.rawValue))
        #expect(Set(paths.keys) == routes)
        // Each route's methods as it answers them (HEAD with GET), 405 to the rest: GET only
        // but for the hold routes that take POST.
        for route in API.Route.allCases where route != .unmatched {
            let methods = Set(route.allowedMethods.lowercased().split(separator: ", ").map(String.init)).subtracting(["head"])
            #expect(Set(paths[route.rawValue]?.keys ?? [:].keys) == methods, "\(route.rawValue)")
        }
        #expect(Set(paths.filter { $0.value.keys.contains("post") }.keys)
                == ["/v1/accounts/{account}/holds", "/v1/accounts/{account}/holds/{hold_id}/extend", "/v1/accounts/{account}/holds/{hold_id}/release"])
    }
}
