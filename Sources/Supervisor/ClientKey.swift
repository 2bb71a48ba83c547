import Glibc
import LivefeedProtocol

/// The address a per-client cap counts by: the IPv4 address (also when it arrives IPv4-mapped on an IPv6
/// socket), or the /64 prefix of an IPv6 address, since one IPv6 host usually owns a whole /64. Peers without an
/// IP address (a Unix socket handed over by the service manager) share `unknown`, which no per-client cap limits.
enum ClientKey {
    static let unknown = "unknown"

    static func of(_ address: SocketAddress?) -> String {
        guard let host = address?.host else { return unknown }
        return of(host: host)
    }

    static func of(host: String) -> String {
        // A byte scan: with Foundation imported, `contains(":")` is a locale-aware substring search (a quarter of
        // the supervisor's CPU per handshake in perf).
        guard host.utf8.contains(UInt8(ascii: ":")) else { return host }
        var bytes = in6_addr()
        guard inet_pton(AF_INET6, host, &bytes) == 1 else { return host }
        return withUnsafeMutableBytes(of: &bytes) { raw -> String in
            let mappedPrefix: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]
            if raw.prefix(12).elementsEqual(mappedPrefix) {
                return "\(raw[12]).\(raw[13]).\(raw[14]).\(raw[15])"
            }
            for i in 8..<16 { raw[i] = 0 }
            var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            guard inet_ntop(AF_INET6, raw.baseAddress, &text, socklen_t(text.count)) != nil else { return host }
            let length = text.firstIndex(of: 0) ?? text.count
            return String(decoding: text[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self) + "/64"
        }
    }
}
