/// The API described for machines: an OpenAPI 3.1 document of every route, served at
/// `/openapi.json`. Its source is docs/openapi.json; scripts/generate-openapi.sh builds it into
/// the binary (`text`), and a test checks that the two are the same bytes.
enum OpenAPIDocument {
    static let bytes: [UInt8] = Array(text.utf8)
}
