import Foundation

/// A small HTTP/1.1 client for loopback servers, over a POSIX socket: it sends the request
/// target exactly as given (no URL normalisation, so `%2F` and malformed escapes reach the
/// server as written) and keeps the connection alive between requests. Used by the demo's
/// synthetic product services (which ask `/check` before every AI action) and by the tests.
public final class LoopbackHTTPClient: @unchecked Sendable {  // one caller at a time
    public let port: Int
    private var fd: Int32 = -1
    private var buffer: [UInt8] = []

    public struct Response: Sendable {
        public var status: Int
        public var headers: [String: String]
        public var body: [UInt8]
        public init(status: Int, headers: [String: String], body: [UInt8]) {
            self.status = status
            self.headers = headers
            self.body = body
        }
        public var text: String { String(decoding: body, as: UTF8.self) }
        public var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any]) ?? [:] }
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        public init(_ description: String) { self.description = description }
    }

    public init(port: Int) { self.port = port }
    deinit { disconnect() }

    public func disconnect() {
        if fd >= 0 { close(fd) }
        fd = -1
        buffer.removeAll()
    }

    /// `get` from async code, on a thread of its own (never blocks the cooperative pool).
    public func request(_ target: String, token: String? = nil, method: String = "GET", headers: [(String, String)] = [],
                        body: [UInt8]? = nil) async throws -> Response {
        try await onOwnThread { try self.get(target, token: token, method: method, headers: headers, body: body) }
    }

    /// A POST with a JSON body (`body` as given, not re-encoded), from async code.
    public func post(_ target: String, token: String? = nil, json body: String?) async throws -> Response {
        try await request(target, token: token, method: "POST", body: body.map { Array($0.utf8) } ?? [])
    }

    /// One request; retried once on a fresh connection when a kept-alive one was closed before
    /// it was answered — a request with a body only when nothing was sent (a POST is never sent twice).
    public func get(_ target: String, token: String? = nil, method: String = "GET", headers: [(String, String)] = [],
                    body: [UInt8]? = nil) throws -> Response {
        var sent = false
        do {
            return try exchange(target, token: token, method: method, headers: headers, body: body, sent: &sent)
        } catch {
            disconnect()
            if body != nil && sent { throw error }
            var again = false
            return try exchange(target, token: token, method: method, headers: headers, body: body, sent: &again)
        }
    }

    private func exchange(_ target: String, token: String?, method: String, headers: [(String, String)], body: [UInt8]?,
                          sent requestSent: inout Bool) throws -> Response {
        if fd >= 0 && buffer.isEmpty {
            // A kept-alive connection the server has closed reads as end of file: reconnect
            // before sending rather than after.
            var probe: UInt8 = 0
            if recv(fd, &probe, 1, Int32(MSG_PEEK | MSG_DONTWAIT)) == 0 { disconnect() }
        }
        if fd < 0 { try connectSocket() }
        var request = "\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n"
        if let token { request += "Authorization: Bearer \(token)\r\n" }
        for (name, value) in headers { request += "\(name): \(value)\r\n" }
        if let body {
            if !headers.contains(where: { $0.0.lowercased() == "content-type" }) { request += "Content-Type: application/json\r\n" }
            request += "Content-Length: \(body.count)\r\n"
        }
        request += "\r\n"
        let bytes = Array(request.utf8) + (body ?? [])
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw Failure("send: errno \(errno)") }
            sent += n
            requestSent = true
        }
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            if let (response, used) = try Self.parse(buffer, headOnly: method == "HEAD") {
                buffer.removeFirst(used)
                if response.headers["connection"]?.lowercased() == "close" { disconnect() }
                return response
            }
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { throw Failure(n == 0 ? "connection closed" : "recv: errno \(errno)") }
            buffer += chunk[0..<n]
        }
    }

    private func connectSocket() throws {
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard s >= 0 else { throw Failure("socket: errno \(errno)") }
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var one: Int32 = 1
        setsockopt(s, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { close(s); throw Failure("connect to 127.0.0.1:\(port): errno \(errno)") }
        fd = s
    }

    /// A whole response at the start of `raw` and the bytes it used, or nil if incomplete.
    static func parse(_ raw: [UInt8], headOnly: Bool) throws -> (Response, Int)? {
        guard raw.count >= 4, let end = (0...(raw.count - 4)).first(where: { raw[$0] == 13 && raw[$0 + 1] == 10 && raw[$0 + 2] == 13 && raw[$0 + 3] == 10 })
        else { return nil }
        let head = String(decoding: raw[..<end], as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = head[0].split(separator: " ")
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { throw Failure("bad status line \(head[0])") }
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let bodyStart = end + 4
        if headOnly { return (Response(status: status, headers: headers, body: []), bodyStart) }
        if let length = headers["content-length"].flatMap(Int.init) {
            guard raw.count - bodyStart >= length else { return nil }
            return (Response(status: status, headers: headers, body: Array(raw[bodyStart..<bodyStart + length])), bodyStart + length)
        }
        if headers["transfer-encoding"]?.lowercased() == "chunked" {
            var out: [UInt8] = []
            var i = bodyStart
            while true {
                guard let lineEnd = (i..<max(i, raw.count - 1)).first(where: { raw[$0] == 13 && raw[$0 + 1] == 10 }) else { return nil }
                guard let size = Int(String(decoding: raw[i..<lineEnd], as: UTF8.self), radix: 16) else { throw Failure("bad chunk size") }
                let start = lineEnd + 2
                if size == 0 { guard raw.count >= start + 2 else { return nil }; return (Response(status: status, headers: headers, body: out), start + 2) }
                guard start + size + 2 <= raw.count else { return nil }
                out += raw[start..<start + size]
                i = start + size + 2
            }
        }
        return (Response(status: status, headers: headers, body: []), bodyStart)
    }
}
