/// CloudEvents binary mode over Kafka: the attributes travel in `ce_*` record headers
/// (CloudEvents Kafka protocol binding) and the record value is `data`. The service fills
/// this from a record's headers (`fromHeaders`) when `ce_specversion` is set; the mapping
/// lives here, beside the decoder, so the caller only walks its headers.
public struct BinaryModeAttributes {
    public var specversion: UnsafeRawBufferPointer?
    public var id: UnsafeRawBufferPointer?
    public var source: UnsafeRawBufferPointer?
    public var type: UnsafeRawBufferPointer?
    public var subject: UnsafeRawBufferPointer?
    public var time: UnsafeRawBufferPointer?
    public init() {}
}

extension BinaryModeAttributes {
    /// The attributes carried by a record's headers, or nil when there is no
    /// `ce_specversion` header (then the record is in structured mode).
    ///
    /// - Parameter forEachHeader: calls its argument once per header (NUL-terminated name,
    ///   value bytes); the buffers must stay valid while the returned attributes are used.
    @inline(__always)
    public static func fromHeaders(
        _ forEachHeader: ((UnsafePointer<CChar>, UnsafeRawBufferPointer?) -> Void) -> Void
    ) -> BinaryModeAttributes? {
        var attrs = BinaryModeAttributes()
        var found = false
        forEachHeader { name, value in
            guard name[0] == 0x63, name[1] == 0x65, name[2] == 0x5F else { return }  // "ce_"
            switch String(cString: name) {
            case "ce_specversion": attrs.specversion = value; found = true
            case "ce_id": attrs.id = value
            case "ce_source": attrs.source = value
            case "ce_type": attrs.type = value
            case "ce_subject": attrs.subject = value
            case "ce_time": attrs.time = value
            default: break
            }
        }
        return found ? attrs : nil
    }
}
