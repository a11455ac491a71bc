import Hummingbird
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// A request that cannot be parsed (a malformed request line or header: NIO's decoder rejects
/// it before any responder sees it) is answered by hummingbird with an empty 400 and a closed
/// connection. This handler, in each connection's pipeline, gives that 400 the API's body —
/// `{"error":"request: …"}` as JSON, like every other 400 — and leaves everything else alone.
/// It notes the parser error as it passes and rewrites the one answer that follows it: a 400
/// with `Content-Length: 0` and no content type, which no route writes.
final class ParseErrorAnswer: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private var parseError: HTTPParserError?

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let error = error as? HTTPParserError { parseError = error }
        context.fireErrorCaught(error)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard let error = parseError, case .head(var head) = unwrapOutboundIn(data), head.status == .badRequest,
              head.headerFields[.contentType] == nil, head.headerFields[.contentLength] == "0" else {
            context.write(data, promise: promise)
            return
        }
        parseError = nil
        let body = API.errorBody("request: not a valid HTTP/1.1 request (\(error))")
        head.headerFields[.contentType] = "application/json"
        head.headerFields[.contentLength] = String(body.count)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(ByteBuffer(bytes: body))), promise: promise)
    }
}
